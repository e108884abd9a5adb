import statistics
from collections import Counter

import pytest

from repro.data.config import PrepareConfig, make_source
from repro.data.sources.synthetic import (
    FR_VERB_SUFFIX,
    TIME_WORDS,
    SyntheticLanguage,
    SyntheticOptions,
    SyntheticSource,
    synthetic_phrase_sets,
)
from repro.errors import ReproError


def _corpus(seed=1, n=3000, **kw):
    return list(SyntheticSource(SyntheticOptions(train_size=n, **kw), seed=seed).iter_pairs("train"))


def test_deterministic_given_seed_and_different_otherwise():
    assert _corpus(1, 300) == _corpus(1, 300)
    assert _corpus(1, 300) != _corpus(2, 300)
    src = SyntheticSource(SyntheticOptions(train_size=50, valid_size=50), seed=1)
    assert list(src.iter_pairs("train")) != list(src.iter_pairs("valid"))  # splits differ


def test_lengths_are_news_like_and_bounded():
    pairs = _corpus(n=3000, max_len=60)
    lengths = [len(en.split()) for en, _ in pairs]
    assert max(lengths) <= 60 and min(lengths) >= 4
    assert 15 <= statistics.median(lengths) <= 30  # most sentences 20-30 words, as in the paper
    assert sum(n > 40 for n in lengths) > 0.02 * len(lengths)  # a real long tail
    short = _corpus(n=500, max_len=12, length_median=8)
    assert max(len(en.split()) for en, _ in short) <= 12


def test_zipfian_vocabulary_has_rare_words():
    counts = Counter(w for en, _ in _corpus(n=3000) for w in en.split())
    ranked = sorted(counts.values(), reverse=True)
    singletons = sum(1 for c in ranked if c == 1)
    assert singletons > 0.2 * len(ranked)  # a long tail of rare words
    assert ranked[0] > 50 * ranked[len(ranked) // 2]


def test_time_word_moves_to_the_end_and_sets_every_verb_tense():
    language = SyntheticLanguage(SyntheticOptions(), 1)
    verbs_fr = {v.fr for v in language.verbs}
    time = {en: (fr, tense) for en, fr, tense in TIME_WORDS}
    forms = {t: {v + FR_VERB_SUFFIX[t, n] for v in verbs_fr for n in ("sg", "pl")} for t in ("past", "present", "future")}
    n_time = 0
    for en, fr in _corpus(n=500):
        first, fr_tokens = en.split()[0], fr.split()
        if first in time:
            n_time += 1
            word, tense = time[first]
            assert fr_tokens[-2] == word and word not in fr_tokens[:-2]  # first source word ↔ last target word
        else:
            tense = "present"
        verbs = [t for t in fr_tokens if t in forms[tense]]
        assert verbs  # every sentence has at least one verb, in the sentence's tense
        wrong = set().union(*(forms[t] for t in forms if t != tense)) - forms[tense]
        assert not [t for t in fr_tokens if t in wrong]
    assert n_time > 300


def test_adjectives_follow_the_noun_in_french():
    language = SyntheticLanguage(SyntheticOptions(p_adjective=0.9), 1)
    import random

    rng = random.Random(0)
    en, fr, _ = language.noun_phrase(rng, noun=language.nouns[5], plural=False, det="def",
                                     adjectives=[language.adjectives[0], language.adjectives[1]])
    assert en == ["the", language.adjectives[0].en, language.adjectives[1].en, language.nouns[5].en]
    assert fr[1] == language.nouns[5].fr and fr[2].startswith(language.adjectives[1].fr)
    assert fr[0] == ("le" if language.nouns[5].gender == "m" else "la")


def test_phrase_sets_swap_subject_and_object():
    sets = synthetic_phrase_sets(PrepareConfig().source_options("synthetic"))
    assert len(sets) == 6 and all(len(v) >= 3 for v in sets.values())
    keys = list(sets)
    a, b = sets[keys[0]], sets[keys[1]]  # "A verb B" and "B verb A"
    assert sorted(a[0].split()) == sorted(b[0].split()) and a[0] != b[0]
    assert sets == synthetic_phrase_sets(SyntheticOptions(), seed=1)
    assert sets != synthetic_phrase_sets(SyntheticOptions(), seed=2)
    assert synthetic_phrase_sets(SyntheticOptions(seed=1), seed=2) == sets  # data.synthetic.seed wins
    vocab = {w for en, _ in _corpus(n=2000) for w in en.split()}
    assert all(w in vocab for v in sets.values() for s in v for w in s.split())  # words the model has seen


def test_rejects_bad_options():
    with pytest.raises(ReproError, match="max_len"):
        SyntheticOptions(min_len=10, max_len=5).validate()
    with pytest.raises(ReproError, match="p_pp"):
        SyntheticLanguage(SyntheticOptions(p_pp=2.0), 1)
    with pytest.raises(ReproError, match="unknown key"):
        make_source(PrepareConfig(synthetic={"sizes": 3}))
