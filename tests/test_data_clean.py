from repro.data.clean import Cleaner, n_tokens


def test_reasons_and_counts():
    cleaner = Cleaner(max_len=5, max_len_ratio=2.0)
    decisions = [cleaner.keep(a, b) for a, b in [(3, 3), (0, 2), (6, 6), (1, 3), (2, 4), (5, 0)]]
    assert decisions == [True, False, False, False, True, False]
    assert cleaner.dropped_dict() == {"empty": 2, "too_long": 1, "ratio": 1}


def test_valid_test_mode_drops_only_empty():
    cleaner = Cleaner(max_len=5, max_len_ratio=2.0, filter_length=False)
    assert cleaner.keep(100, 1) and not cleaner.keep(0, 1)
    assert cleaner.dropped_dict()["empty"] == 1 and sum(cleaner.dropped_dict().values()) == 1


def test_limits_can_be_disabled():
    assert Cleaner(max_len=None, max_len_ratio=None).reason(1000, 1) is None


def test_n_tokens():
    assert [n_tokens(s) for s in ("", "a", "a b c")] == [0, 1, 3]
