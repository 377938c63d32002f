"""Writing a state again passes the lines of the file it was read from through where nothing changed.
Whatever was changed, and however the file was laid out, what is written reads back as the state meant;
when the file is in the layout this tool writes, it is byte for byte what writing every line makes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_as_code.state import State, StateEntry, _entry_doc, _entry_line, _entry_lines
from lineage_as_code.state.content import Content
from lineage_as_code.state.local import LocalStateStore

text = st.text(alphabet='ab."\\/\u00e9\u2028 ', max_size=4)
hashes = st.one_of(st.sampled_from([f"{c * 64}" for c in "0123456789abcdef"] + [f"{c * 64}:full" for c in "07f"]
                                   + [f"{c * 64}:partial" for c in "07f"]), text)
entry = st.builds(StateEntry, st.sampled_from(["asset", "process"]), text, hashes, st.booleans(),
                  st.lists(st.tuples(text, text), max_size=2).map(tuple), text, st.booleans())
addresses = text.map(lambda t: f"asset.{t}")
ledgers = st.dictionaries(addresses, entry, max_size=12)
bodies = st.dictionaries(st.sampled_from(["name", "sql", "x"]), text, max_size=2)


def _state(targets: dict[str, dict[str, StateEntry]], content: dict[str, dict[str, Any]], serial: int = 3) -> State:
    used = {e.hash for entries in targets.values() for e in entries.values()}
    return State("lineage-1", serial, MappingProxyType({t: MappingProxyType(dict(e)) for t, e in sorted(targets.items())}),
                 Content({h: b for h, b in content.items() if h in used}))


def _everything(state: State) -> tuple[dict[str, dict[str, StateEntry]], dict[str, Any]]:
    read = State.from_json(state.to_json(), "state.json")
    return {t: dict(read.entries(t)) for t in read.targets}, dict(read.content._everything())


changes = st.tuples(st.dictionaries(addresses, entry, max_size=4), st.sets(addresses, max_size=4),
                    st.dictionaries(hashes, bodies, max_size=4))


@settings(max_examples=300, deadline=None)
@given(ledgers, ledgers, st.dictionaries(hashes, bodies, max_size=8), changes, st.booleans(), st.booleans())
def test_a_state_written_again_is_what_writing_every_line_makes(
        local: dict[str, StateEntry], other: dict[str, StateEntry], content: dict[str, dict[str, Any]],
        change: tuple[dict[str, StateEntry], set[str], dict[str, dict[str, Any]]], twice: bool,
        on_disk: bool) -> None:
    """``on_disk``: through a local state file, whose bodies are read back from the file (replaced by the
    first write, as an apply replaces it) when the next write needs them."""
    before = _state({"local": local, "other": other}, content)
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStateStore(str(Path(folder) / "state.json"))
        if on_disk:
            store.write(before, expected_serial=0)
            read = store.read()
        else:
            read = State.from_json(before.to_json(), "state.json")
        put, drop, new_bodies = change
        after = read.updated("local", put, drop, new_bodies)
        if on_disk:
            store.write(after, expected_serial=read.serial)
        if twice:  # a second write made from the first, as an apply makes several
            after = after.updated("local", dict(list(put.items())[:1]), set(list(drop)[1:]), new_bodies)
        written = after.to_json()
    expected_local = {a: e for a, e in local.items() if a not in drop} | put
    if twice:
        expected_local = {a: e for a, e in expected_local.items() if a not in set(list(drop)[1:])}
        expected_local |= dict(list(put.items())[:1])
    kept = {e.hash for e in (*local.values(), *other.values())}  # what the first file held
    bodies_now = {h: b for h, b in content.items() if h in kept} | new_bodies
    expected = _state({"local": expected_local, "other": other}, bodies_now, after.serial)
    assert written == expected.to_json()
    assert _everything(after) == _everything(expected)


def _hand_laid(data: bytes, how: str) -> bytes:
    """The same state, laid out otherwise by hand: it still parses to the same document."""
    doc = json.loads(data)
    if how == "pretty":
        return json.dumps(doc, indent=2).encode()
    if how == "spaces":
        return data.replace(b'",', b'", ').replace(b"],\n", b"] ,\n")
    if how == "reversed":  # entries out of order, the layout otherwise kept
        head, _, rest = data.partition(b'"local":{\n')
        section, _, tail = rest.partition(b"\n}\n")
        lines = section.split(b",\n")
        return head + b'"local":{\n' + b",\n".join(reversed(lines)) + b"\n}\n" + tail
    if how == "split":  # one entry over two lines
        return data.replace(b'":["', b'":[\n"', 1)
    if how == "unused body":  # a body no entry refers to
        return data.replace(b',"content":{\n', b',"content":{\n"' + b"0" * 63 + b'1":{"x":"y"},\n', 1)
    raise AssertionError(how)


@settings(max_examples=200, deadline=None)
@given(ledgers, st.dictionaries(hashes, bodies, max_size=6), changes,
       st.sampled_from(["pretty", "spaces", "reversed", "split", "unused body"]))
def test_a_state_laid_out_by_hand_is_written_as_it_reads(
        local: dict[str, StateEntry], content: dict[str, dict[str, Any]],
        change: tuple[dict[str, StateEntry], set[str], dict[str, dict[str, Any]]], how: str) -> None:
    before = _state({"local": local}, content)
    laid = _hand_laid(before.to_json(), how)
    try:
        read = State.from_json(laid, "state.json")
    except ValueError:
        return  # the edit made it other JSON (an address holding the pattern replaced); not this test's case
    put, drop, new_bodies = change
    after = read.updated("local", put, drop, new_bodies)
    kept = {h: b for h, b in content.items() if h in {e.hash for e in local.values()}}
    expected = _state({"local": {a: e for a, e in local.items() if a not in drop} | put}, kept | new_bodies,
                      after.serial)
    assert _everything(after) == _everything(expected)


def test_a_target_the_run_did_not_change_is_written_as_the_file_held_it() -> None:
    """Its lines are passed through whole, even laid out by hand (its entries read back the same)."""
    entries = {f"asset.a{i}": StateEntry("asset", f"id{i}", f"{i:064x}") for i in range(5)}
    data = _state({"local": entries, "other": entries}, {}).to_json()
    spaced = data.replace(b'"other":{\n"asset.a0":["asset",', b'"other":{\n"asset.a0":[ "asset" ,')
    read = State.from_json(spaced, "state.json")
    after = read.updated("local", {"asset.z": StateEntry("asset", "z", "f" * 64)}, set())
    written = after.to_json()
    assert b'"asset.a0":[ "asset" ,' in written
    assert dict(State.from_json(written, "state.json").entries("other")) == entries


def test_a_state_file_cut_while_a_run_reads_its_bodies_is_an_error_naming_it(tmp_path: Path) -> None:
    """A local state's bodies are read from the file when a write needs them: a file cut in place
    meanwhile (copied over by hand) is an error, never a state written without them."""
    import pytest

    from lineage_as_code.errors import StateError

    path = tmp_path / "state.json"
    store = LocalStateStore(str(path))
    entries = {f"asset.a{i}": StateEntry("asset", f"id{i}", f"{i:064x}") for i in range(5)}
    store.write(_state({"local": entries}, {f"{i:064x}": {"name": f"a{i}"} for i in range(5)}), expected_serial=0)
    read = store.read()
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 40)
    with pytest.raises(StateError, match="state.json: the state file changed while this run read it; run again"):
        read.updated("local", {"asset.z": StateEntry("asset", "z", "f" * 64)}, set()).to_json()


def test_a_state_file_edited_in_place_while_a_run_holds_it_is_an_error_not_another_state(tmp_path: Path) -> None:
    """A local state's entry lines are read from the file again when the run needs them (to read its entries,
    and to pass unchanged lines through to the next file): lines edited in place meanwhile, even to the same
    length, are an error, never entries or lines of another state."""
    import pytest

    from lineage_as_code.errors import StateError

    path = tmp_path / "state.json"
    store = LocalStateStore(str(path))
    entries = {f"asset.a{i}": StateEntry("asset", f"id{i}", f"{i:064x}") for i in range(5)}
    store.write(_state({"local": entries}, {f"{i:064x}": {"name": f"a{i}"} for i in range(5)}), expected_serial=0)
    unparsed, parsed = store.read(), store.read()
    assert dict(parsed.entries("local")) == entries
    data = path.read_bytes()
    with open(path, "r+b") as fh:  # one id changed, the file the same length
        fh.seek(data.index(b'"id3"') + 3)
        fh.write(b"9")
    with pytest.raises(StateError, match="state.json: the state file was changed in place while this run read it"):
        unparsed.entries("local")
    with pytest.raises(StateError, match="state.json: the state file was changed in place while this run read it"):
        parsed.updated("local", {"asset.z": StateEntry("asset", "z", "f" * 64)}, set()).to_json()
    assert dict(store.read().entries("local"))["asset.a3"].id == "id9"  # read afresh, the edit is what state holds


@settings(max_examples=300, deadline=None)
@given(addresses, entry)
def test_an_entry_line_is_what_json_writes_for_it(address: str, e: StateEntry) -> None:
    compact = {"separators": (",", ":")}
    line = f"{json.dumps(address)}:{json.dumps(_entry_doc(e), **compact)}"
    assert _entry_line(address, e) == line
    odd = e._replace(id=7, edges=((e.kind, e.hash),))  # a field the line is not written from as text
    odd_line = f"{json.dumps(address)}:{json.dumps(_entry_doc(odd), **compact)}"
    assert _entry_line(address, odd) == odd_line
    one_edge = e._replace(edges=((e.id, e.hash),))
    one_edge_line = f"{json.dumps(address)}:{json.dumps(_entry_doc(one_edge), **compact)}"
    # a block of lines written at once, and a block holding an entry that is not written from its strings
    assert _entry_lines([address, address], [e, one_edge]) == [line, one_edge_line]
    assert _entry_lines([address, address, address], [e, odd, one_edge]) == [line, odd_line, one_edge_line]


def _content_hashes(data: bytes) -> list[str]:
    """The hashes of a state file's content lines, in the order it holds them."""
    section = data.partition(b',"content":{\n')[2].rpartition(b"\n}\n}\n")[0]
    return [json.loads(b"{" + line.rstrip(b",") + b"}").popitem()[0] for line in section.split(b"\n")]


def test_a_state_keeps_its_bodies_where_they_were_and_adds_new_ones_after_them(tmp_path: Path) -> None:
    """The content section changes where bodies changed, as a pull request's diff of it shows: each body
    kept stays on its line, one no longer used leaves, and bodies written since come after the others, in
    the order the run wrote them (not where their hashes would sort)."""
    store = LocalStateStore(str(tmp_path / "state.json"))
    digests = [f"{c * 64}" for c in "8c4a"]
    entries = {f"asset.a{i}": StateEntry("asset", f"id{i}", h) for i, h in enumerate(digests)}
    store.write(_state({"local": entries}, {h: {"name": h[0]} for h in digests}), expected_serial=0)
    assert _content_hashes((tmp_path / "state.json").read_bytes()) == digests
    read = store.read()
    new = {"f" * 64: {"name": "f"}, "0" * 64: {"name": "0"}, "5" * 64: {"name": "5"}}
    put = {f"asset.n{h[0]}": StateEntry("asset", f"n{h[0]}", h) for h in new}
    after = read.updated("local", put, {"asset.a1"}, new)
    store.write(after, expected_serial=read.serial)
    data = (tmp_path / "state.json").read_bytes()
    assert _content_hashes(data) == ["8" * 64, "4" * 64, "a" * 64, "f" * 64, "0" * 64, "5" * 64]
    assert dict(store.read().content._everything()) == {h: {"name": h[0]} for h in (*digests[::2], digests[3], *new)}
    # a second run's write, from the file the first one left: the same lines, none moved
    again = store.read()
    store.write(again.updated("local", {}, {"asset.n0"}), expected_serial=again.serial)
    assert _content_hashes((tmp_path / "state.json").read_bytes()) == \
        ["8" * 64, "4" * 64, "a" * 64, "f" * 64, "5" * 64]


def _read_as(read: Any) -> tuple[Any, ...]:
    """What a state read gives (lineage, serial, each target's entries, every body), or its error."""
    from lineage_as_code.errors import StateError

    try:
        state = read()
        return (state.lineage, state.serial, {t: dict(state.entries(t)) for t in state.targets},
                {t: state.entries_digest(t) for t in state.targets}, dict(state.content._everything()))
    except StateError as exc:
        return ("error", str(exc))


@settings(max_examples=300, deadline=None)
@given(ledgers, ledgers, st.dictionaries(hashes, bodies, max_size=8),
       st.sampled_from(["as written", "cut", "grown", "by hand", "no content", "one line"]),
       st.integers(1, 40), st.sampled_from([1, 2, 3, 5, 64, 1 << 22]))
def test_a_state_read_from_its_file_is_what_parsing_the_whole_file_gives(
        local: dict[str, StateEntry], other: dict[str, StateEntry], content: dict[str, dict[str, Any]], form: str,
        cut: int, piece: int) -> None:
    """A local state is read only through its targets (its content section, most of a large state, stays in
    the file until a write or a diff needs it), a piece at a time: whatever the pieces, and whatever the file
    holds (as this tool writes it, cut short, with bytes after its end, laid out by hand, without a content
    section), the state read, or the error, is what parsing the whole file as JSON gives."""
    from lineage_as_code.state import document

    data = _state({"local": local, "other": other}, content).to_json()
    if form == "cut":
        data = data[:-cut]
    elif form == "grown":
        data += b" " * cut
    elif form == "by hand":
        data = json.dumps(json.loads(data), indent=1).encode()
    elif form == "no content":
        data = data[:data.index(b'\n,"content":{\n') + 1] + b"\n}\n" if b'"content"' in data else data
    elif form == "one line":
        data = json.dumps(json.loads(data)).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_bytes(data)
        whole = _read_as(lambda: State._parsed_whole(data, str(path)))
        saved = document.SCAN_PIECE
        document.SCAN_PIECE = piece
        try:
            assert _read_as(LocalStateStore(str(path)).read) == whole
        finally:
            document.SCAN_PIECE = saved
