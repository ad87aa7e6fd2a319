"""Sample column values for the detector tests: personal data of every kind, and the traps that are not."""

from __future__ import annotations

from datetime import date

# Chinook-like samples: the classic traps for a detector.
TRACK_NAMES = [
    "For Those About To Rock (We Salute You)", "Balls to the Wall", "Fast As a Shark", "Restless and Wild",
    "Princess of the Dawn", "Put The Finger On You", "Let's Get It Up", "Inject The Venom", "Snowballed",
    "Evil Walks", "C.O.D.", "Breaking The Rules", "Night Of The Long Knives", "Spellbound", "Go Down",
    "Dog Eat Dog", "Let There Be Rock", "Bad Boy Boogie", "Problem Child", "Overdose",
]  # fmt: skip
ALBUM_TITLES = [
    "For Those About To Rock We Salute You", "Balls to the Wall", "Restless and Wild", "Let There Be Rock",
    "Big Ones", "Jagged Little Pill", "Facelift", "Warner 25 Anos", "Plays Metallica By Four Cellos",
    "Audioslave", "Out Of Exile", "BackBeat Soundtrack", "The Best Of Billy Cobham",
]  # fmt: skip
COMPOSERS = [
    "Angus Young, Malcolm Young, Brian Johnson", None, "F. Baltes, S. Kaufman, U. Dirkscneider & W. Hoffman",
    "Steven Tyler, Joe Perry", "Jerry Cantrell", "AC/DC", "Billy Cobham", "Tony Iommi, Ozzy Osbourne",
    "Apocalyptica", "Chris Cornell", "Eric Clapton/Jim Gordon",
]  # fmt: skip
EMPLOYEE_TITLES = [
    "General Manager", "Sales Manager", "Sales Support Agent", "Sales Support Agent", "Sales Support Agent",
    "IT Manager", "IT Staff", "IT Staff",
]  # fmt: skip
PEOPLE = [
    "Luís Gonçalves", "Leonie Köhler", "François Tremblay", "Bjørn Hansen", "František Wichterlová",
    "Helena Holý", "Astrid Gruber", "Daan Peeters", "Kara Nielsen", "Eduardo Martins", "Mark Philips",
    "Ludwig van Beethoven", "Maria de la Cruz", "Jean-Luc Picard", "Seán O'Brien", "John F. Kennedy",
]  # fmt: skip
ADDRESSES = [
    "Av. Brigadeiro Faria Lima, 2170", "Theodor-Heuss-Straße 34", "1498 rue Bélanger", "Ullevålsveien 14",
    "Rilská 3174/6", "Rotenturmstraße 4, 1010 Innere Stadt", "Grétrystraat 63", "Sønder Boulevard 51",
    "Rua Dr. Falcão Filho, 155", "700 W Pender Street", "8210 111 ST NW", "1 Microsoft Way",
]  # fmt: skip
EMAILS = [f"user{i}@example.com" for i in range(10)]
PHONES = ["+55 (12) 3923-5555", "+49 0711 2842222", "+1 (514) 721-4711", "+47 22 44 22 22", "0171 1234567"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606"]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011111111111117"]
IPS = ["192.168.0.1", "10.0.0.254", "2001:db8::1", "fe80::1ff:fe23:4567:890a"]
NATIONAL_IDS = ["123-45-6789", "AB123456C", "AB 12 34 56 C", "1 84 12 76 451 089 46"]
OLD_DATES = [date(1958, 12, 8), date(1973, 8, 29), date(1947, 9, 19), date(1965, 3, 3)]
ISO_TIMESTAMPS = [
    "2024-01-15T10:00:00Z",
    "2023-12-01T08:30:00+01:00",
    "2021-05-05 12:00:00",
    "2020-02-29T23:59:59",
]
INTEGER_IDS = ["1", "42", "1234567", "12345678", "987654321", "1000000001", "4294967295"]
PRICES = ["0.99", "1.99", "12.50", "1234567.89", "1 234 567", "1,234.00"]
SKUS = ["SKU-12345", "SKU-20391", "SKU-77777", "AB-1234-XY", "P/N 4431"]
