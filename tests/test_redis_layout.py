"""The Redis key layout and record formats, checked without a server."""

from __future__ import annotations

import string

import ormsgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from kortyx_langgraph.core.records import EMPTY_BLOB, StoredCheckpoint, StoredWrite
from kortyx_langgraph.errors import DeserializationError
from kortyx_langgraph.redis import codec
from kortyx_langgraph.redis.layout import (
    blob_suffix,
    checkpoint_key_pattern,
    checkpoint_member,
    decode,
    encode,
    namespace_range,
    split_member,
    thread_id_of_cp_key,
    thread_keys,
)

ids = st.text(min_size=1, max_size=40)
SPECIAL = set(":{}*?[]\\ \n")


@given(ids)
def test_encoding_round_trips_and_leaves_no_special_character(value: str) -> None:
    encoded = encode(value)
    assert decode(encoded) == value
    assert not SPECIAL & set(encoded)


@given(ids, ids)
def test_distinct_threads_never_share_a_key(a: str, b: str) -> None:
    keys_a, keys_b = thread_keys("kortyx:", a), thread_keys("kortyx:", b)
    if a != b:
        assert not {keys_a.idx, keys_a.cp, keys_a.blob, keys_a.wr} & {
            keys_b.idx,
            keys_b.cp,
            keys_b.blob,
            keys_b.wr,
        }


@given(ids)
def test_every_key_of_a_thread_is_in_one_cluster_slot(thread_id: str) -> None:
    keys = thread_keys("kortyx:", thread_id)
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert thread_id_of_cp_key("kortyx:", keys.cp) == thread_id


@given(ids, ids)
def test_members_split_back_into_namespace_and_id(namespace: str, checkpoint_id: str) -> None:
    assert split_member(checkpoint_member(namespace, checkpoint_id)) == (namespace, checkpoint_id)


@given(st.lists(st.tuples(st.sampled_from(["", "a", "ab", "a:b", "sub|1"]), ids), max_size=30))
def test_a_namespace_range_holds_exactly_that_namespace(
    members: list[tuple[str, str]],
) -> None:
    encoded = sorted({checkpoint_member(ns, cid) for ns, cid in members})
    for namespace in ("", "a", "ab", "a:b", "sub|1"):
        upper, lower = namespace_range(namespace)
        inside = [m for m in encoded if lower[1:] <= m < upper[1:]]
        assert inside == sorted(
            checkpoint_member(ns, cid) for ns, cid in set(members) if ns == namespace
        )


def test_scan_pattern_escapes_the_prefix() -> None:
    assert checkpoint_key_pattern("kortyx:") == "kortyx:{*}:*:cp"
    assert checkpoint_key_pattern("a*b?[c]:") == "a\\*b\\?\\[c\\]:{*}:*:cp"


def test_uuid_like_checkpoint_ids_keep_their_order_when_encoded() -> None:
    alphabet = string.hexdigits.lower()[:16] + "-"
    for a, b in [("1ef0-a", "1ef0-b"), ("1ef0", "1ef0-0"), ("0f", "10")]:
        assert set(a + b) <= set(alphabet)
        assert (encode(a) < encode(b)) == (a < b)


@given(
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.integers(0, 2**53), st.floats(0, 1e9), st.text(max_size=10)),
    ),
    st.binary(max_size=50),
)
def test_checkpoint_records_round_trip(
    versions: dict[str, int | float | str], payload: bytes
) -> None:
    record = StoredCheckpoint(
        checkpoint=("msgpack+aes", payload),
        metadata=("msgpack", b"\x80"),
        parent_id=None,
        run_id="run-1",
        channel_versions=versions,
    )
    back = codec.unpack_checkpoint(codec.pack_checkpoint(record))
    # versions come back in their string form: the blob keys are all they are needed for
    assert back._replace(channel_versions={}) == record._replace(channel_versions={})
    assert back.channel_versions == {channel: str(v) for channel, v in versions.items()}


@given(
    st.dictionaries(st.text(max_size=10), st.text(max_size=10)).flatmap(
        lambda versions: st.tuples(
            st.just(versions),
            st.dictionaries(
                st.sampled_from(sorted(versions) or [""]),
                st.tuples(st.sampled_from(["msgpack", "empty"]), st.binary(max_size=20)).map(
                    codec.pack_blob
                ),
            ),
        )
    )
)
def test_values_kept_in_a_record_come_back_with_it(
    drawn: tuple[dict[str, str], dict[str, bytes]],
) -> None:
    versions, kept = drawn
    kept = {channel: value for channel, value in kept.items() if channel in versions}
    record = StoredCheckpoint(("msgpack", b"\x80"), ("msgpack", b"\x80"), "p", None, versions)
    data = codec.pack_checkpoint(record, inline=kept)
    assert codec.unpack_checkpoint(data).channel_versions == versions
    assert codec.unpack_inline(data) == kept
    # the scripts hand a kept value over as "=" and its text in the record
    for ref in ormsgpack.unpackb(data[4 : 4 + int.from_bytes(data[:4], "big")])[2]:
        name, marked, text = ref.partition("=")
        if marked:
            channel = decode(name.partition(":")[0])
            assert codec.unpack_blob(b"=" + text.encode()) == codec.unpack_blob(kept[channel])


@given(
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.integers(0, 2**53), st.floats(0, 1e9), st.text(max_size=10)),
    ),
    st.booleans(),
)
def test_a_record_packed_with_its_header_is_the_record_packed_alone(
    versions: dict[str, int | float | str], with_writes: bool
) -> None:
    record = StoredCheckpoint(("msgpack", b"\x80"), ("msgpack", b"\x81"), "p", "r", versions)
    inline = dict.fromkeys(list(versions)[:1], codec.pack_blob(("msgpack", b"\x01")))
    alone = codec.pack_checkpoint(record, inline=inline, with_writes=with_writes)
    suffixes = {channel: blob_suffix(channel, version) for channel, version in versions.items()}
    for given_suffixes in (None, suffixes):
        packed, header = codec.pack_checkpoint_parts(
            record, inline=inline, with_writes=with_writes, suffixes=given_suffixes
        )
        assert packed == alone
        assert header == codec.split_record(packed)[0]


def test_a_corrupted_kept_value_is_a_typed_error() -> None:
    with pytest.raises(DeserializationError, match="kept in a record"):
        codec.unpack_blob(b"=a")


@given(st.lists(st.tuples(st.text(max_size=8), st.integers(-4, 50), st.binary(max_size=30))))
def test_framed_writes_round_trip(items: list[tuple[str, int, bytes]]) -> None:
    writes = [StoredWrite(t, i, "ch", ("bytes", b), "~p") for t, i, b in items]
    # as written before later frames left out their task: every frame names its task
    data = b"".join(codec.frame(codec.write_key(w), codec.pack_write(w)) for w in writes)
    assert codec.unpack_writes(data) == writes
    # as written now: one value per task, whose first frame alone names it, one frame per
    # index: a later write to an index replaces the earlier only when special (idx < 0)
    tasks = sorted({w.task_id for w in writes})
    values, expected = [], []
    for t in tasks:
        mine = [w for w in writes if w.task_id == t]
        count, value = codec.task_frames(mine)
        kept: dict[int, StoredWrite] = {}
        for w in mine:
            if w.idx not in kept or w.idx < 0:
                kept[w.idx] = w
        assert count == len(kept)
        values.append(value)
        expected += kept.values()
    assert codec.unpack_writes(values) == expected


def test_empty_blobs_are_stored_as_nothing() -> None:
    assert codec.pack_blob(EMPTY_BLOB) == b""
    assert codec.unpack_blob(b"") == EMPTY_BLOB
    assert codec.unpack_blob(None) is None
    assert codec.unpack_blob(codec.pack_blob(("msgpack", b"\x01"))) == ("msgpack", b"\x01")


def test_the_key_table_in_the_design_doc_is_the_real_layout() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "design.md").read_text()
    keys = thread_keys("kortyx:", "order:42")
    for key in keys:
        assert f"`{key}`" in doc, key
