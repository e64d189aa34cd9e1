"""webinfer.stops: stop strings over a stream of deltas, however the text is cut."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webinfer.stops import StopMatcher


def stream(stops, deltas):
    """Feed deltas one by one; return (every push's output, the total emitted text, hit)."""
    m = StopMatcher(stops)
    outs, hit = [], False
    for d in deltas:
        out, hit = m.push(d)
        outs.append(out)
        if hit:
            break
    tail = "" if hit else m.flush()
    return outs, "".join(outs) + tail, hit


def whole_text_answer(stops, text):
    """What a non-streaming reader would say: cut at the stop string that ends first
    (earliest start among those ending together), or keep everything."""
    best = None
    for s in stops:
        i = text.find(s)
        if i >= 0 and (best is None or (i + len(s), i) < best):
            best = (i + len(s), i)
    return (text, False) if best is None else (text[: best[1]], True)


def test_stop_inside_one_delta():
    assert StopMatcher(["END"]).push("hello END world") == ("hello ", True)


def test_stop_at_the_very_start_emits_nothing():
    assert StopMatcher(["<|im_end|>"]).push("<|im_end|>more") == ("", True)


def test_stop_split_over_many_single_character_deltas():
    deltas = ["Hi", " there"] + list("<|im_end|>") + ["ignored"]
    outs, total, hit = stream(["<|im_end|>"], deltas)
    assert hit and total == "Hi there"
    # Nothing of the stop string leaks, and text before it is not held longer than needed.
    assert outs[:2] == ["Hi", " there"]
    assert all(o == "" for o in outs[2:])


def test_held_text_is_released_when_the_stop_is_ruled_out():
    m = StopMatcher(["abc"])
    assert m.push("xab") == ("x", False)  # "ab" could start "abc"
    assert m.push("d") == ("abd", False)  # ... but "abd" cannot
    assert m.flush() == ""


def test_no_false_holds():
    m = StopMatcher(["abc", "\n\nUser:"])
    assert m.push("hello") == ("hello", False)  # no suffix of "hello" starts a stop
    assert m.push(" world.") == (" world.", False)
    assert m.flush() == ""


def test_flush_returns_a_possible_prefix_at_the_end():
    m = StopMatcher(["abc"])
    assert m.push("the ab") == ("the ", False)
    assert m.flush() == "ab"
    assert m.flush() == ""  # flushing twice gives nothing new


def test_overlapping_prefix_aab():
    m = StopMatcher(["ab"])
    assert m.push("a") == ("", False)
    assert m.push("a") == ("a", False)  # the first "a" can no longer start "ab"; the second can
    assert m.push("b") == ("", True)
    assert StopMatcher(["ab"]).push("aab") == ("a", True)


def test_self_overlapping_stop():
    # "aab" inside "aaab": the matcher must not give up on the prefix after the third "a".
    outs, total, hit = stream(["aab"], list("xaaab"))
    assert hit and total == "xa"


def test_multiple_stops_first_to_complete_wins():
    assert StopMatcher(["\n\n", "User:"]).push("answer\nUser: hi\n\n") == ("answer\n", True)
    # "bc" completes before "abcd" does, so the cut is at "bc", however the text is cut up.
    assert StopMatcher(["abcd", "bc"]).push("xabcd") == ("xa", True)
    assert stream(["abcd", "bc"], ["xab", "c", "d"])[1:] == ("xa", True)
    # Two stops ending at the same place: the longer one (earlier start) is cut.
    assert StopMatcher(["bc", "abc"]).push("xabc") == ("x", True)


def test_hold_is_the_longest_prefix_of_any_stop():
    m = StopMatcher(["</s>", "<|end|>"])
    assert m.push("text <|en") == ("text ", False)
    assert m.push("d") == ("", False)
    assert m.push("!") == ("<|end!", False)


def test_unicode_stops_and_text():
    # CJK, emoji (outside the BMP) and a combining mark, split mid-stop.
    stops = ["。\n", "🛑🛑", "e\u0301!"]
    assert stream(stops, ["你好", "世界。", "\n再见"])[1:] == ("你好世界", True)
    assert stream(stops, ["go 🛑", "🛑 now"])[1:] == ("go ", True)
    assert stream(stops, ["caf", "e\u0301", "! x"])[1:] == ("caf", True)
    assert stream(stops, ["🙂 🛑", " e\u0301?"])[1:] == ("🙂 🛑 e\u0301?", False)


def test_after_a_hit_everything_is_dropped():
    m = StopMatcher(["STOP"])
    assert m.push("aSTOPb") == ("a", True)
    assert m.push("more") == ("", True)
    assert m.flush() == ""


def test_no_stop_strings_passes_everything_through():
    m = StopMatcher([])
    assert m.push("anything") == ("anything", False)
    assert m.push("") == ("", False)
    assert m.flush() == ""


def test_empty_deltas_change_nothing():
    m = StopMatcher(["ab"])
    assert m.push("") == ("", False)
    assert m.push("xa") == ("x", False)
    assert m.push("") == ("", False)
    assert m.push("b") == ("", True)


@pytest.mark.parametrize("bad, message", [([""], "non-empty"), (["ok", None], "must be str"), ([b"x"], "must be str")])
def test_bad_stop_strings(bad, message):
    with pytest.raises(ValueError, match=message):
        StopMatcher(bad)


@st.composite
def text_and_cuts(draw):
    text = draw(st.text(alphabet="ab c🛑", max_size=30))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    deltas = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
    return text, deltas


@settings(max_examples=400, deadline=None)
@given(
    stops=st.lists(st.text(alphabet="ab c🛑", min_size=1, max_size=4), max_size=3),
    case=text_and_cuts(),
)
def test_streaming_equals_the_whole_text_answer(stops, case):
    text, deltas = case
    _, total, hit = stream(stops, deltas)
    assert (total, hit) == whole_text_answer(stops, text)


def test_the_matcher_names_the_stop_that_ended_it():
    m = StopMatcher(["abcd", "bc"])
    assert m.matched is None and m.push("xab") == ("x", False) and m.matched is None
    assert m.push("cd") == ("a", True) and m.matched == "bc"
    m = StopMatcher(["bc", "abc"])
    assert m.push("xabc") == ("x", True) and m.matched == "abc"
