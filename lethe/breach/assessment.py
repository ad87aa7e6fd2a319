"""The Art. 34 decision aid: must the affected subjects be told? Questions in, a recommendation out.

Art. 34(1): communicate when the breach is likely to result in a high risk to their rights and freedoms;
Art. 34(3): not required when (a) the data was unintelligible to others (e.g. encrypted, key not affected),
(b) later measures make the high risk no longer likely, or (c) telling each would take disproportionate
effort, in which case a public communication is made instead. The answers and the recommendation are
recorded in the ledger with the breach's id (no personal data: yes/no answers).
"""

from __future__ import annotations

from dataclasses import dataclass

from lethe.errors import ParameterError

ASSESSMENT_QUESTIONS: dict[str, str] = {
    "high_risk": "Is the breach likely to result in a high risk to the subjects' rights and freedoms (Art. 34(1))?",
    "unintelligible": "Was the data unintelligible to anyone not authorised, e.g. encrypted with an unaffected key (Art. 34(3)(a))?",
    "risk_contained": "Have later measures made the high risk no longer likely to materialise (Art. 34(3)(b))?",
    "disproportionate": "Would telling each subject involve disproportionate effort (Art. 34(3)(c))?",
}


@dataclass(frozen=True)
class Assessment:
    """The answers and what follows from them."""

    answers: dict[str, bool]
    recommendation: str  # communicate | public-communication | not-required
    reason: str


def assess_communication(answers: dict[str, bool], *, special_categories: bool = False) -> Assessment:
    """The Art. 34 recommendation from yes/no ``answers`` to ``ASSESSMENT_QUESTIONS``.

    ``special_categories`` (from the scope) presumes a high risk when ``high_risk`` is not answered
    (EDPB Guidelines 9/2022: special categories are generally high risk).
    """
    unknown = sorted(set(answers) - set(ASSESSMENT_QUESTIONS))
    if unknown:
        raise ParameterError(
            f"unknown question(s) {', '.join(unknown)}; valid: {', '.join(ASSESSMENT_QUESTIONS)}"
        )
    given = dict(answers)
    high = given.get("high_risk", special_categories)
    given.setdefault("high_risk", high)
    if not high:
        return Assessment(
            given, "not-required", "no high risk to the subjects' rights and freedoms (Art. 34(1))"
        )
    if given.get("unintelligible"):
        return Assessment(given, "not-required", "the data was unintelligible to others (Art. 34(3)(a))")
    if given.get("risk_contained"):
        return Assessment(given, "not-required", "later measures make the high risk unlikely (Art. 34(3)(b))")
    if given.get("disproportionate"):
        return Assessment(
            given,
            "public-communication",
            "telling each would be disproportionate: communicate publicly (Art. 34(3)(c))",
        )
    return Assessment(given, "communicate", "high risk: tell the subjects without undue delay (Art. 34(1)); "
                      "use the encrypted contact list")  # fmt: skip
