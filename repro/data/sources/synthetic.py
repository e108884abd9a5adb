"""An artificial English→French-like language pair, generated offline in seconds (the demo's data).

It is built so that the paper's effects can show up:

- **Zipfian vocabulary**: nouns, verbs and adjectives are drawn with probability ∝ 1/rank^s, so a long tail
  of rare words exists (and falls outside a truncated vocabulary as UNK); frequent words are shorter.
- **News-like lengths**: English length (tokens, with punctuation) ~ log-normal (median ``length_median``,
  spread ``length_sigma``) clipped to [``min_len``, ``max_len``]; sentences grow by adding clauses
  (coordinate ", and ..." or subordinate "that/because/..."), prepositional phrases and adjectives.
- **Word-order changes**: adjectives follow the noun in French and several adjectives mirror
  (``A1 A2 N`` → ``N A2 A1``); subordinate clauses are verb-final in French; negation is discontinuous
  (``does not V`` → ``ne V pas``); English may front a prepositional phrase (``in the X , S V O``) where
  French keeps it at the end.
- **Agreement**: French determiners and adjectives agree with the noun's gender (visible only in French)
  and number; French verbs agree with their subject's number.
- **Sentence-spanning dependencies**: the optional first English word is a time adverb; in French it is
  moved to the **last** position (before the full stop), and it sets the tense suffix of **every** French
  verb in the sentence. So the first source word decides words all over the target — what a fixed-size
  context must carry across the whole sentence, and what reversing the source brings close to the start.

Deterministic given the seed: the lexicon comes from ``Random(f"{seed}-lexicon")`` and each split from
``Random(f"{seed}-{split}")`` (string seeds are hashed with SHA-512, stable across runs and platforms).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from repro.data.sources.base import ParallelSource, SourceSettings
from repro.errors import ReproError


@dataclass
class SyntheticOptions:
    """Keys of ``data.synthetic``.

    train_size, valid_size, test_size: pairs per split.
    seed: the language and corpus seed (null = ``data.seed``).
    min_len, max_len: English sentence length bounds in tokens (punctuation included).
    length_median, length_sigma: log-normal length distribution (news-like: median 22, most 12–40).
    n_nouns, n_verbs, n_adjectives: open-class lexicon sizes; zipf_exponent: s in p(rank) ∝ 1/rank^s.
    p_time_word: probability that a sentence opens with a time adverb (moved to the end in French,
        sets every French verb's tense).
    p_object: a clause has an object; p_pp: probability of each further prepositional phrase;
    p_adjective: probability of each of up to two adjectives per noun phrase; p_plural: plural noun
        phrase; p_negation: negated clause; p_front_pp: English fronts the clause's last PP;
    p_subordinate: an added clause is subordinate (verb-final in French) rather than coordinate.
    """

    train_size: int = 50000
    valid_size: int = 1000
    test_size: int = 1000
    seed: int | None = None
    min_len: int = 4
    max_len: int = 80
    length_median: float = 22.0
    length_sigma: float = 0.55
    n_nouns: int = 6000
    n_verbs: int = 1500
    n_adjectives: int = 1500
    zipf_exponent: float = 1.0
    p_time_word: float = 0.85
    p_object: float = 0.85
    p_pp: float = 0.45
    p_adjective: float = 0.3
    p_plural: float = 0.3
    p_negation: float = 0.15
    p_front_pp: float = 0.1
    p_subordinate: float = 0.5

    def validate(self) -> None:
        if self.min_len < 4:
            raise ReproError(f"data.synthetic.min_len must be >= 4 (the shortest sentence), got {self.min_len}")
        if self.max_len < self.min_len:
            raise ReproError(f"data.synthetic.max_len ({self.max_len}) < min_len ({self.min_len})")
        for name in ("train_size", "valid_size", "test_size", "n_nouns", "n_verbs", "n_adjectives"):
            if getattr(self, name) < (1 if name.startswith("n_") else 0):
                raise ReproError(f"data.synthetic.{name} must be positive, got {getattr(self, name)}")
        for name, value in asdict(self).items():
            if name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ReproError(f"data.synthetic.{name} must be a probability in [0, 1], got {value}")


# (English, French, tense): the French word goes to the end of the sentence.
TIME_WORDS = (
    ("yesterday", "hier", "past"), ("recently", "naguere", "past"),
    ("today", "aujourdhui", "present"), ("now", "maintenant", "present"),
    ("tomorrow", "demain", "future"), ("soon", "bientot", "future"),
)
PREPOSITIONS = (("in", "dans"), ("on", "sur"), ("with", "avec"), ("for", "pour"), ("near", "pres"),
                ("under", "sous"), ("from", "depuis"), ("without", "sans"))
SUBORDINATORS = (("that", ["que"]), ("because", ["parce", "que"]), ("although", ["bien", "que"]),
                 ("when", ["quand"]), ("while", ["tandis", "que"]))
# French determiners by (kind, gender, number)
FR_DET = {("def", "m", "sg"): "le", ("def", "f", "sg"): "la", ("def", "m", "pl"): "les", ("def", "f", "pl"): "les",
          ("ind", "m", "sg"): "un", ("ind", "f", "sg"): "une", ("ind", "m", "pl"): "des", ("ind", "f", "pl"): "des",
          ("dem", "m", "sg"): "ce", ("dem", "f", "sg"): "cette", ("dem", "m", "pl"): "ces", ("dem", "f", "pl"): "ces"}
EN_DET = {("def", "sg"): "the", ("def", "pl"): "the", ("ind", "sg"): "a", ("ind", "pl"): "some",
          ("dem", "sg"): "this", ("dem", "pl"): "these"}
FR_ADJ_SUFFIX = {("m", "sg"): "", ("f", "sg"): "e", ("m", "pl"): "s", ("f", "pl"): "es"}
FR_VERB_SUFFIX = {("present", "sg"): "e", ("present", "pl"): "ent", ("past", "sg"): "ait",
                  ("past", "pl"): "aient", ("future", "sg"): "era", ("future", "pl"): "eront"}

_EN_ONSETS = "b c d f g h j k l m n p r t v w z bl br cl cr dr fl fr gl gr pl pr sl sp st tr th sh ch".split()
_EN_VOWELS = "a e i o u ea ee oo ai ou".split()
_EN_CODAS = ["", "", "n", "r", "t", "m", "l", "nd", "ck", "ng"]
_FR_ONSETS = "b c d f g j l m n p r t v ch gu qu pr tr br cr fl gr pl vr".split()
_FR_VOWELS = "a e i o u é è ou ai au eu oi an on in".split()
_FR_CODAS = ["", "", "", "r", "l", "n", "t", "rd"]


def _zipf_cdf(n: int, s: float) -> list[float]:
    weights = [1.0 / (rank ** s) for rank in range(1, n + 1)]
    return list(itertools.accumulate(weights))


def _make_words(rng: random.Random, n: int, onsets: Sequence[str], vowels: Sequence[str], codas: Sequence[str],
                taken: set[str]) -> list[str]:
    """``n`` distinct pronounceable words, shorter for frequent ranks (Zipf's law of abbreviation)."""
    words: list[str] = []
    for rank in range(n):
        base = 1 + (rank >= 40) + (rank >= 800)
        for attempt in itertools.count():
            syllables = base + (rng.random() < 0.3) + attempt // 20
            word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
            if word[-1] != "s" and word not in taken:
                taken.add(word)
                words.append(word)
                break
    return words


@dataclass
class _Lexeme:
    en: str
    fr: str
    gender: str = "m"


class SyntheticLanguage:
    """The lexicon and grammar of one seeded language pair."""

    def __init__(self, options: SyntheticOptions, seed: int) -> None:
        options.validate()
        self.options = options
        self.seed = seed
        rng = random.Random(f"{seed}-lexicon")
        en_taken = {w for w, _, _ in TIME_WORDS} | {w for w, _ in PREPOSITIONS} | {w for w, _ in SUBORDINATORS}
        en_taken |= set(EN_DET.values()) | {"not", "does", "do", "and", ",", "."}
        fr_taken = {w for _, w, _ in TIME_WORDS} | {w for _, w in PREPOSITIONS} | set(FR_DET.values())
        fr_taken |= {w for _, ws in SUBORDINATORS for w in ws} | {"ne", "pas", "et", ",", "."}

        def lexemes(n: int, gendered: bool) -> list[_Lexeme]:
            en = _make_words(rng, n, _EN_ONSETS, _EN_VOWELS, _EN_CODAS, en_taken)
            fr = _make_words(rng, n, _FR_ONSETS, _FR_VOWELS, _FR_CODAS, fr_taken)
            return [_Lexeme(e, f, rng.choice("mf") if gendered else "m") for e, f in zip(en, fr)]

        self.nouns = lexemes(options.n_nouns, True)
        self.verbs = lexemes(options.n_verbs, False)
        self.adjectives = lexemes(options.n_adjectives, False)
        s = options.zipf_exponent
        self._cdf = {"n": _zipf_cdf(len(self.nouns), s), "v": _zipf_cdf(len(self.verbs), s),
                     "a": _zipf_cdf(len(self.adjectives), s)}
        self._mu = math.log(options.length_median)

    # --- sampling helpers -------------------------------------------------------------------------------
    def _pick(self, rng: random.Random, kind: str) -> _Lexeme:
        cdf = self._cdf[kind]
        index = bisect.bisect_left(cdf, rng.random() * cdf[-1])
        table = {"n": self.nouns, "v": self.verbs, "a": self.adjectives}[kind]
        return table[min(index, len(table) - 1)]

    def _length(self, rng: random.Random) -> int:
        o = self.options
        return max(o.min_len, min(o.max_len, round(rng.lognormvariate(self._mu, o.length_sigma))))

    # --- grammar ----------------------------------------------------------------------------------------
    def noun_phrase(self, rng: random.Random, noun: _Lexeme | None = None, plural: bool | None = None,
                    adjectives: list[_Lexeme] | None = None, det: str | None = None,
                    max_tokens: int = 4) -> tuple[list[str], list[str], str]:
        o = self.options
        noun = noun or self._pick(rng, "n")
        number = ("pl" if rng.random() < o.p_plural else "sg") if plural is None else ("pl" if plural else "sg")
        det = det or rng.choice(("def", "def", "def", "ind", "dem"))
        if adjectives is None:
            adjectives = []
            while len(adjectives) < min(2, max_tokens - 2) and rng.random() < o.p_adjective:
                adjectives.append(self._pick(rng, "a"))
        en = [EN_DET[det, number]] + [a.en for a in adjectives] + [noun.en + ("s" if number == "pl" else "")]
        fr = [FR_DET[det, noun.gender, number], noun.fr + ("s" if number == "pl" else "")]
        fr += [a.fr + FR_ADJ_SUFFIX[noun.gender, number] for a in reversed(adjectives)]
        return en, fr, number

    def clause(self, rng: random.Random, tense: str, budget: int, subordinate: bool) -> tuple[list[str], list[str]]:
        """One clause of at most ``budget`` English tokens (``budget`` >= 3)."""
        o = self.options
        subj_en, subj_fr, number = self.noun_phrase(rng, max_tokens=max(2, min(4, budget - 1)))
        verb = self._pick(rng, "v")
        negated = budget - len(subj_en) >= 3 and rng.random() < o.p_negation
        if negated:
            v_en = ["does" if number == "sg" else "do", "not", verb.en]
        else:
            v_en = [verb.en + ("s" if number == "sg" else "")]
        v_form = verb.fr + FR_VERB_SUFFIX[tense, number]
        v_fr = ["ne", v_form, "pas"] if negated else [v_form]
        left = budget - len(subj_en) - len(v_en)
        obj_en: list[str] = []
        obj_fr: list[str] = []
        if left >= 2 and rng.random() < o.p_object:
            obj_en, obj_fr, _ = self.noun_phrase(rng, max_tokens=min(4, left))
            left -= len(obj_en)
        pps: list[tuple[list[str], list[str]]] = []
        while left >= 3 and rng.random() < o.p_pp:
            prep_en, prep_fr = rng.choice(PREPOSITIONS)
            np_en, np_fr, _ = self.noun_phrase(rng, max_tokens=min(4, left - 1))
            pps.append(([prep_en] + np_en, [prep_fr] + np_fr))
            left -= 1 + len(np_en)
        pp_en = [t for pp in pps for t in pp[0]]
        pp_fr = [t for pp in pps for t in pp[1]]
        en = subj_en + v_en + obj_en + pp_en
        if subordinate:
            fr = subj_fr + obj_fr + pp_fr + v_fr  # verb-final
        else:
            fr = subj_fr + v_fr + obj_fr + pp_fr
            if pps and left >= 1 and rng.random() < o.p_front_pp:  # English fronts the last PP
                last = pps[-1][0]
                en = last + [","] + subj_en + v_en + obj_en + [t for pp in pps[:-1] for t in pp[0]]
        return en, fr

    def sentence(self, rng: random.Random) -> tuple[str, str]:
        o = self.options
        target = self._length(rng)
        en: list[str] = []
        fr_tail: list[str] = []
        tense = "present"
        if target >= 5 and rng.random() < o.p_time_word:
            time_en, time_fr, tense = rng.choice(TIME_WORDS)
            en.append(time_en)
            fr_tail.append(time_fr)
        budget = target - len(en) - 1  # the full stop
        c_en, c_fr = self.clause(rng, tense, budget, subordinate=False)
        en += c_en
        fr = list(c_fr)
        budget -= len(c_en)
        while budget >= 5:
            if rng.random() < o.p_subordinate:
                word_en, words_fr = rng.choice(SUBORDINATORS)
                c_en, c_fr = self.clause(rng, tense, budget - 1, subordinate=True)
                en += [word_en] + c_en
                fr += words_fr + c_fr
                budget -= 1 + len(c_en)
            else:
                c_en, c_fr = self.clause(rng, tense, budget - 2, subordinate=False)
                en += [",", "and"] + c_en
                fr += [",", "et"] + c_fr
                budget -= 2 + len(c_en)
        return " ".join(en + ["."]), " ".join(fr + fr_tail + ["."])

    def corpus(self, split: str, size: int) -> Iterator[tuple[str, str]]:
        rng = random.Random(f"{self.seed}-{split}")
        for _ in range(size):
            yield self.sentence(rng)


class SyntheticSource(ParallelSource):
    name = "synthetic"
    options_type = SyntheticOptions
    pretokenized = True  # tokens are generated space-separated; nothing to tokenize

    def __init__(self, options: SyntheticOptions | None = None, seed: int = 1, src_lang: str = "en",
                 tgt_lang: str = "fr") -> None:
        self.options = options or SyntheticOptions()
        self.seed = self.options.seed if self.options.seed is not None else seed
        if (src_lang, tgt_lang) not in (("en", "fr"), ("fr", "en")):
            raise ReproError(f"synthetic source: languages must be en and fr, got {src_lang} and {tgt_lang}")
        self.reverse_direction = src_lang == "fr"
        self.language = SyntheticLanguage(self.options, self.seed)

    @classmethod
    def from_options(cls, options: SyntheticOptions, settings: SourceSettings) -> SyntheticSource:
        return cls(options, settings.seed, settings.src_lang, settings.tgt_lang)

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        size = {"train": self.options.train_size, "valid": self.options.valid_size,
                "test": self.options.test_size}[split]
        for en, fr in self.language.corpus(split, size):
            yield (fr, en) if self.reverse_direction else (en, fr)

    def describe(self) -> dict:
        info = super().describe()
        info.update(seed=self.seed, options=asdict(self.options))
        return info


def synthetic_phrase_sets(options: SyntheticOptions, seed: int = 1) -> dict[str, list[str]]:
    """English (source-side) phrases for a PCA figure like the paper's Figure 2.

    The language is the one ``options`` and ``data.seed`` (``seed``, unless ``options.seed`` is set) make
    (``SyntheticSource``). Keys name a meaning (``"<subject> <verb> <object>"``); each list holds
    meaning-preserving variants (prepositional phrase at the end or fronted, with or without a time
    adverb of the same tense). Swapping subject and object gives a different key with the same words, so
    a model that only bags words cannot separate them.
    """
    seed = options.seed if options.seed is not None else seed
    language = SyntheticLanguage(options, seed)
    rng = random.Random(f"{seed}-phrases")
    subj, obj, place = language.nouns[0], language.nouns[1], language.nouns[2]
    sets: dict[str, list[str]] = {}
    for verb in language.verbs[:3]:
        for a, b in ((subj, obj), (obj, subj)):
            en_a, _, _ = language.noun_phrase(rng, noun=a, plural=False, adjectives=[], det="def")
            en_b, _, _ = language.noun_phrase(rng, noun=b, plural=False, adjectives=[], det="def")
            pp, _, _ = language.noun_phrase(rng, noun=place, plural=False, adjectives=[], det="def")
            core = en_a + [verb.en + "s"] + en_b
            pp = ["in"] + pp
            variants = [core + pp, pp + [","] + core, ["today"] + core + pp, ["now"] + pp + [","] + core]
            sets[f"{a.en} {verb.en} {b.en}"] = [" ".join(v + ["."]) for v in variants]
    return sets
