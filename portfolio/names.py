"""What a name or text typed by a user may hold, and when two names look alike.

- No control characters (C0 and C1, DEL, null bytes included), no lone surrogates and no bidirectional
  embedding, override or isolate controls (they make a name display reversed): ``InvalidText`` names
  the first one found. PostgreSQL refuses a null byte in a text column outright.
- A name that is blank once invisible characters are removed (spaces, zero-width spaces and joiners,
  Hangul fillers, variation selectors, ...) is blank.
- Two names look alike when their confusable skeletons are equal (Unicode TR39: NFKC, then each
  character mapped to the prototype it can be mistaken for, invisible characters dropped), compared both
  as typed and case-folded: "Default" spelt with a Cyrillic e (U+0435) looks like "Default", "admin"
  with a Cyrillic i (U+0456) like "Admin", "Ian" like "lan". The confusables data is that of the
  ``confusable_homoglyphs`` package.
- A name mixes scripts when its letters come from more than one script (digits, punctuation and
  combining marks belong to none; Han with Hiragana, Katakana, Hangul or Bopomofo is ordinary CJK text).
"""

import unicodedata
from functools import cache

from confusable_homoglyphs import categories, confusables

# Bidi_Control characters that reorder text (the marks LRM, RLM and ALM only nudge it and stay allowed).
_BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# Default-ignorable code points that are not format characters (category Cf), and the braille blank.
_INVISIBLE = frozenset(
    map(
        chr,
        [
            0x034F,  # combining grapheme joiner
            0x115F,  # Hangul choseong filler
            0x1160,  # Hangul jungseong filler
            0x17B4,  # Khmer vowel inherent aq
            0x17B5,  # Khmer vowel inherent aa
            *range(0x180B, 0x1810),  # Mongolian free variation selectors and vowel separator
            0x2800,  # braille pattern blank
            0x3164,  # Hangul filler
            *range(0xFE00, 0xFE10),  # variation selectors
            0xFFA0,  # halfwidth Hangul filler
            *range(0xE0100, 0xE01F0),  # variation selectors supplement
        ],
    )
)
# Scripts that are written together as one: a name mixing them is ordinary text, not a look-alike.
_NOT_A_SCRIPT = {"COMMON", "INHERITED", "Unknown"}
_CJK = {"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"}


class InvalidText(ValueError):
    """Text a user may not store; the message says why."""


def control_character(text: str) -> str | None:
    """The first control character in ``text`` (see the module's docstring), or None."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            return char
    return None


def check_text(text: str, what: str) -> None:
    """Raise ``InvalidText`` when ``text`` holds a control character; ``what`` names the field."""
    char = control_character(text)
    if char is not None:
        raise InvalidText(f"{what} cannot contain control characters (found U+{ord(char):04X}).")


def is_invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf" or char in _INVISIBLE


def visible(text: str) -> str:
    """``text`` without its invisible characters: empty when nothing in it would show."""
    return "".join(char for char in text if not is_invisible(char))


def is_blank(text: str) -> bool:
    return not visible(text)


@cache
def _prototypes() -> dict[str, str]:
    """Each confusable character mapped to the one string that stands for its look-alike class.

    ``confusable_homoglyphs`` stores TR39's confusables both ways: a character that maps to a prototype
    lists that prototype alone, a prototype lists everything that maps to it. A prototype with a single
    look-alike is indistinguishable from it in that data, so such a pair maps to the smaller of the two.
    """
    data = confusables.confusables_data
    mapping = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or len(homoglyphs) != 1:
            continue
        target = visible(homoglyphs[0]["c"])  # the data wraps right-to-left glyphs in LRM marks
        if not target:
            continue
        back = data.get(target)
        if back is not None and len(back) == 1 and visible(back[0]["c"]) == char:
            target = min(char, target)
        if target != char:
            mapping[char] = target
    return mapping


def skeleton(name: str) -> str:
    """TR39's confusable skeleton of ``name`` (NFKC first, invisible characters dropped)."""
    prototypes = _prototypes()
    text = unicodedata.normalize("NFD", visible(unicodedata.normalize("NFKC", name)))
    return unicodedata.normalize("NFD", "".join(prototypes.get(char, char) for char in text))


def lookalike_keys(name: str) -> set[str]:
    """The skeletons under which ``name`` is compared: as typed and case-folded."""
    return {skeleton(name), skeleton(unicodedata.normalize("NFKC", name).casefold())}


def looks_alike(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` can be mistaken for each other (equal names included)."""
    return bool(lookalike_keys(a) & lookalike_keys(b))


def first_lookalike(name: str, others) -> str | None:
    """The first of ``others`` (an iterable of names) that looks like ``name``, or None."""
    keys = lookalike_keys(name)
    return next((other for other in others if keys & lookalike_keys(other)), None)


def scripts_of(name: str) -> list[str]:
    """The scripts whose letters ``name`` uses, by first appearance (``["LATIN", "CYRILLIC"]``)."""
    found = dict.fromkeys(categories.alias(char) for char in name)
    return [script for script in found if script not in _NOT_A_SCRIPT]


def mixes_scripts(name: str) -> bool:
    """Whether ``name`` uses letters of more than one script (CJK scripts count as one)."""
    scripts = set(scripts_of(name))
    if scripts & _CJK:
        scripts = (scripts - _CJK) | {"CJK"}
    return len(scripts) > 1
