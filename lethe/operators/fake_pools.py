"""Fixed pools of the ``fake`` operator: generic British given names, surnames, streets and towns.

Generated once (names sampled from Faker's ``en_GB`` lists with ``random.Random(20240601)``) and pasted
here, so the output never changes with a Faker upgrade: a pool's order is part of every fake value.
Entries are plain ASCII letters and spaces (no ``|`` or quote), because the SQL versions pass each pool
as one ``|``-separated string.
"""

from __future__ import annotations

# fmt: off
FIRST_NAMES: tuple[str, ...] = (
    "Abigail", "Adam", "Albert", "Alex", "Alexandra", "Allan", "Andrew", "Angela", "Anna",
    "Anne", "Annette", "Antony", "Arthur", "Ashleigh", "Ashley", "Ben", "Benjamin", "Beth",
    "Bethan", "Bethany", "Beverley", "Bradley", "Brett", "Brian", "Bryan", "Cameron", "Carol",
    "Carole", "Caroline", "Catherine", "Charles", "Charlotte", "Christian", "Christine", "Clive", "Colin",
    "Conor", "Craig", "Dale", "Damien", "Danny", "Darren", "Dean", "Denis", "Dennis",
    "Derek", "Diana", "Diane", "Dominic", "Donald", "Duncan", "Dylan", "Edward", "Elaine",
    "Eleanor", "Ellie", "Elliot", "Elliott", "Frances", "Francis", "Frank", "Gail", "Gareth",
    "Garry", "Gary", "George", "Georgia", "Gerald", "Geraldine", "Glen", "Glenn", "Gordon",
    "Grace", "Graeme", "Gregory", "Guy", "Hannah", "Harriet", "Harry", "Hayley", "Hazel",
    "Henry", "Hilary", "Hollie", "Iain", "Jack", "Jacqueline", "Jake", "James", "Jamie",
    "Jane", "Janet", "Janice", "Jason", "Jay", "Jean", "Jemma", "Jennifer", "Jeremy",
    "Joan", "Joe", "Jonathan", "Joseph", "Josephine", "Josh", "Joshua", "Julia", "Julian",
    "June", "Justin", "Karen", "Kathryn", "Kayleigh", "Keith", "Kelly", "Kenneth", "Kevin",
    "Kieran", "Kim", "Kirsty", "Laura", "Lauren", "Lawrence", "Leanne", "Lee", "Leigh",
    "Lewis", "Lindsey", "Lorraine", "Louis", "Lucy", "Luke", "Lynda", "Lynn", "Malcolm",
    "Mandy", "Margaret", "Maria", "Marian", "Marie", "Marilyn", "Martyn", "Mary", "Mathew",
    "Maureen", "Maurice", "Max", "Megan", "Melissa", "Mitchell", "Mohammad", "Molly", "Naomi",
    "Natalie", "Nathan", "Neil", "Nicholas", "Oliver", "Olivia", "Owen", "Paige", "Pamela",
    "Patricia", "Paul", "Pauline", "Peter", "Philip", "Phillip", "Rebecca", "Rhys", "Richard",
    "Ricky", "Rita", "Roger", "Roy", "Ryan", "Samuel", "Sandra", "Shane", "Shannon",
    "Sheila", "Sian", "Simon", "Sophie", "Stacey", "Stanley", "Stephanie", "Susan", "Suzanne",
    "Sylvia", "Teresa", "Terry", "Tina", "Toby", "Tracey", "Vanessa", "Victor", "Vincent",
    "Wendy", "William",
)

LAST_NAMES: tuple[str, ...] = (
    "Anderson", "Andrews", "Archer", "Atkins", "Baker", "Ball", "Banks", "Barnett", "Barrett",
    "Barton", "Benson", "Berry", "Bishop", "Black", "Boyle", "Brookes", "Bull", "Carpenter",
    "Carroll", "Cartwright", "Chadwick", "Chambers", "Chan", "Chandler", "Clark", "Clayton", "Cole",
    "Coleman", "Coles", "Collier", "Connolly", "Crawford", "Curtis", "Daly", "Daniels", "Davey",
    "Davison", "Day", "Dennis", "Dickinson", "Dobson", "Douglas", "Duffy", "Dyer", "Ellis",
    "Evans", "Faulkner", "Field", "Finch", "Fisher", "Flynn", "Foster", "Fowler", "Fox",
    "Francis", "Franklin", "Fraser", "French", "Fry", "Fuller", "Gallagher", "Gardiner", "Gardner",
    "Garner", "Gibson", "Giles", "Graham", "Grant", "Gray", "Griffiths", "Hancock", "Hanson",
    "Hardy", "Harris", "Harrison", "Hart", "Hayward", "Herbert", "Hewitt", "Hill", "Hilton",
    "Holmes", "Hooper", "Hopkins", "Horton", "Houghton", "Howells", "Hudson", "Humphreys", "Hunter",
    "Hurst", "Hussain", "Iqbal", "Jackson", "Jenkins", "John", "Jones", "Jordan", "Kay",
    "Kelly", "Kennedy", "Khan", "Kirby", "Lamb", "Lane", "Lawrence", "Leach", "Lloyd",
    "Long", "Lowe", "Lucas", "Lyons", "Macdonald", "Manning", "Marshall", "Martin", "Matthews",
    "Mellor", "Metcalfe", "Miah", "Mills", "Mitchell", "Moore", "Moran", "Morgan", "Morley",
    "Morris", "Morton", "Moss", "Nash", "Newman", "Newton", "Noble", "Nolan", "North",
    "Osborne", "Owen", "Page", "Parker", "Parkinson", "Patterson", "Pearce", "Perkins", "Perry",
    "Pope", "Porter", "Potts", "Powell", "Power", "Pritchard", "Quinn", "Rahman", "Randall",
    "Reid", "Rhodes", "Rice", "Richards", "Richardson", "Rose", "Ross", "Rowe", "Ryan",
    "Saunders", "Savage", "Shah", "Sharp", "Shaw", "Sims", "Skinner", "Slater", "Smith",
    "Stevenson", "Stone", "Storey", "Sullivan", "Sutton", "Swift", "Talbot", "Thompson", "Todd",
    "Tomlinson", "Tyler", "Vaughan", "Wallace", "Walsh", "Walters", "Walton", "Warren", "Watson",
    "Wells", "Weston", "Wheeler", "White", "Winter", "Wong", "Woodward", "Wright", "Wyatt",
    "Yates", "Young",
)

STREETS: tuple[str, ...] = (
    "Acacia Terrace", "Albert Lane", "Albert Road", "Alder Street", "Ash Avenue",
    "Aspen Gardens", "Aspen Way", "Beech Close", "Beech Drive", "Beech Way",
    "Birch Avenue", "Birch Terrace", "Bramble Avenue", "Bramble Road", "Bridge Terrace",
    "Bridge Way", "Brook Crescent", "Castle Gardens", "Castle Grove", "Cedar Crescent",
    "Cedar Way", "Chestnut Close", "Chestnut Crescent", "Chestnut Drive", "Chestnut Road",
    "Church Gardens", "Church Place", "Church Road", "Church Terrace", "Church Way",
    "Clover Close", "Clover Crescent", "Clover Road", "Clover Street", "Dale Close",
    "Dale Gardens", "Dale Way", "Elm Crescent", "Elm Drive", "Elm Lane",
    "Fern Drive", "Fern Road", "Field Lane", "Forge Grove", "Forge Terrace",
    "Garden Crescent", "Garden Grove", "Green Avenue", "Green Close", "Green Place",
    "Hawthorn Place", "Hazel Road", "Heather Place", "Heather Terrace", "Heather Way",
    "Hill Street", "Hill Terrace", "Holly Crescent", "Holly Lane", "Juniper Avenue",
    "Juniper Lane", "Kings Lane", "Kings Way", "Lake Lane", "Linden Drive",
    "Linden Lane", "Linden Street", "Linden Way", "Manor Avenue", "Manor Lane",
    "Manor Way", "Maple Grove", "Maple Place", "Market Way", "Meadow Avenue",
    "Meadow Drive", "Meadow Lane", "Meadow Road", "Mill Gardens", "Mill Grove",
    "Mill Lane", "Oak Crescent", "Oak Grove", "Orchard Drive", "Orchard Terrace",
    "Park Crescent", "Park Gardens", "Park Grove", "Park Terrace", "Pine Drive",
    "Poplar Grove", "Poplar Lane", "Poplar Place", "Queens Grove", "Queens Lane",
    "Queens Street", "River Gardens", "River Place", "Rowan Avenue", "Rowan Road",
    "Rowan Street", "Rowan Terrace", "School Close", "School Lane", "Spring Close",
    "Spring Lane", "Station Grove", "Station Way", "Thorn Drive", "Thorn Way",
    "Vale Close", "Vale Grove", "Vale Terrace", "Victoria Close", "Willow Avenue",
    "Willow Crescent", "Willow Way", "Yew Close", "Yew Drive", "Yew Terrace",
)

CITIES: tuple[str, ...] = (
    "Aberdeen", "Ashford", "Aylesbury", "Banbury", "Barnsley", "Basingstoke", "Bath", "Bedford",
    "Blackburn", "Bolton", "Bournemouth", "Bradford", "Brighton", "Bristol", "Bury", "Cambridge",
    "Canterbury", "Cardiff", "Carlisle", "Chelmsford", "Cheltenham", "Chester", "Chichester", "Colchester",
    "Coventry", "Crawley", "Darlington", "Derby", "Doncaster", "Dorchester", "Dundee", "Durham",
    "Edinburgh", "Exeter", "Falkirk", "Glasgow", "Gloucester", "Guildford", "Halifax", "Harrogate",
    "Hastings", "Hereford", "Huddersfield", "Inverness", "Ipswich", "Kendal", "Lancaster", "Leeds",
    "Leicester", "Lincoln", "Liverpool", "Luton", "Maidstone", "Manchester", "Newcastle", "Newport",
    "Northampton", "Norwich", "Nottingham", "Oxford", "Perth", "Peterborough", "Plymouth", "Portsmouth",
    "Preston", "Reading", "Salisbury", "Sheffield", "Shrewsbury", "Southampton", "Stafford", "Stirling",
    "Sunderland", "Swansea", "Swindon", "Taunton", "Telford", "Truro", "Wakefield", "Warrington",
    "Watford", "Winchester", "Worcester", "Wrexham", "York",
)
# fmt: on
