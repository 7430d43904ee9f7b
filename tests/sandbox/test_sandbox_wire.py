"""The wire format on its own (no sandbox needed): caps and validation before any allocation."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from service.sandbox import wire
from service.sandbox.driver import clean_text
from service.sandbox.protocol import ArgIn, CaseIn, Job


def decode(node: dict, payload: bytes = b"") -> object:
    return wire.decode_value(node, memoryview(payload), [0])


def test_job_roundtrip_keeps_arrays_and_values():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    b = np.array([1.0, -2.5, np.nan, 3.0e38], np.float32)
    job = Job(code="x", entry="solve", framework="torch",
              cases=(CaseIn("c", (ArgIn("a", array=a.T), ArgIn("k", value=[1, 2]),
                                  ArgIn("b", array=b, torch_dtype="bfloat16"))),))
    head, blob, regions = wire.encode_job(job)
    frames = list(wire.FrameReader(1 << 16, 1 << 20).feed(head))
    assert frames[0][1] == b""  # inputs never travel in the frame, only in the shared file
    back = wire.decode_job(frames[0][0], bytearray(blob))
    arg, val, bf = back.cases[0].args
    np.testing.assert_array_equal(arg.array, a.T)
    assert arg.torch_dtype is None and val.value == [1, 2]
    assert [(r.arg, r.dtype, r.shape) for r in regions] == [("a", "int64", (3, 2)), ("b", "bfloat16", (4,))]
    # bfloat16 is cast on the trusted side, rounded as torch rounds (nearest even; NaN stays a NaN)
    torch = pytest.importorskip("torch")
    want = torch.from_numpy(b).to(torch.bfloat16)
    got = torch.from_numpy(bf.array.copy()).view(torch.bfloat16)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    assert bf.torch_dtype == "bfloat16"


def test_frames_arrive_in_pieces():
    data = wire.frame({"t": "case"}, [b"abc"]) + wire.frame({"t": "done"})
    reader = wire.FrameReader(1 << 16, 1 << 20)
    got = [f for i in range(len(data)) for f in reader.feed(data[i:i + 1])]
    assert [(h["t"], p) for h, p in got] == [("case", b"abc"), ("done", b"")]


@pytest.mark.parametrize("raw,kind", [
    (struct.pack(">I", 1 << 30), "violation"),  # header over the cap
    (struct.pack(">I", 5) + b"nope!", "violation"),  # not JSON
    (struct.pack(">I", 2) + b"[]", "violation"),  # no nbytes
])
def test_malformed_headers(raw, kind):
    with pytest.raises(wire.WireError) as exc:
        list(wire.FrameReader(1 << 16, 1 << 20).feed(raw))
    assert exc.value.kind == kind


def test_payload_budget_is_checked_before_buffering():
    raw = json.dumps({"nbytes": 1 << 40}).encode()
    with pytest.raises(wire.WireError) as exc:
        list(wire.FrameReader(1 << 16, 1 << 20).feed(struct.pack(">I", len(raw)) + raw))
    assert exc.value.kind == "limit"


@pytest.mark.parametrize("node", [
    {"kind": "tensor", "dtype": "object", "shape": [1], "nbytes": 8},
    {"kind": "tensor", "dtype": "float32", "shape": [10 ** 9, 10 ** 9], "nbytes": 4},
    {"kind": "tensor", "dtype": "float32", "shape": [-1], "nbytes": 4},
    {"kind": "tensor", "dtype": "float32", "shape": [1] * 9, "nbytes": 4},
    {"kind": "tensor", "dtype": "float32", "shape": [2], "nbytes": 8},  # bytes missing
    {"kind": "tensor", "dtype": "float32", "shape": [2], "strides": [1], "first": 0, "nbytes": 8},  # ditto
    {"kind": "ndarray", "dtype": "float32", "shape": [1.5], "nbytes": 4},
    {"kind": "pickle"},
    {"kind": "list", "items": [{"kind": "none"}] * 2000},
    {"kind": "int", "scalar": "1"},
])
def test_bad_value_trees_are_violations(node):
    with pytest.raises(wire.WireError):
        decode(node, b"\0" * 4)


def test_bfloat16_is_widened_from_its_bit_pattern():
    bits = np.array([0x3F80, 0xC000], dtype=np.uint16)  # 1.0 and -2.0 in bfloat16
    v = decode({"kind": "tensor", "dtype": "bfloat16", "shape": [2], "strides": [1], "first": 0, "nbytes": 4},
               bits.tobytes())
    assert v.array.dtype == np.float32 and v.array.tolist() == [1.0, -2.0]


def test_clean_text_strips_control_characters():
    assert clean_text(b"a\x1b[31mb\x07\r\n\tc\xc2\x9b\xff") == "a[31mb\n\tc\ufffd"


def tensor(shape: list[int], strides: list[int], first: int, nbytes: int) -> dict:
    return {"kind": "tensor", "dtype": "int32", "shape": shape, "strides": strides, "first": first, "nbytes": nbytes}


MEM = np.arange(12, dtype=np.int32).tobytes()


@pytest.mark.parametrize("shape,strides,first,want", [
    ([3, 4], [4, 1], 0, np.arange(12).reshape(3, 4)),  # contiguous: the memory is the values
    ([4, 3], [1, 4], 0, np.arange(12).reshape(3, 4).T),  # a transposed layout: same bytes, other values
    ([2, 2, 3], [1, 6, 2], 0, np.arange(12).reshape(2, 3, 2).transpose(2, 0, 1)),  # channels-last-like
    ([3, 4], [-4, 1], 8, np.arange(12).reshape(3, 4)[::-1]),  # numpy's negative strides
    ([12], [-1], 11, np.arange(12)[::-1]),
])
def test_values_are_rebuilt_from_the_memory_and_the_strides(shape, strides, first, want):
    v = decode(tensor(shape, strides, first, 48), MEM)
    np.testing.assert_array_equal(v.array, want)
    assert v.array.flags.c_contiguous and v.array.flags.writeable and v.strides == tuple(strides)


def test_overlapping_strides_are_read_only_expansions():
    v = decode(tensor([1000, 3], [0, 1], 0, 12), MEM[:12])
    assert v.array.shape == (1000, 3) and (v.array == [0, 1, 2]).all()


@pytest.mark.parametrize("shape,strides,first,nbytes,kind", [
    ([3, 4], [4, 1], 0, 44, "violation"),  # strides reach past the memory sent
    ([3, 4], [4, 1], 1, 48, "violation"),  # the offset pushes the last element out
    ([3, 4], [-4, 1], 0, 48, "violation"),  # a negative stride reaching before the memory
    ([3, 4], [4, 1], -1, 48, "violation"),
    ([2, 2], [4, 1], 0, 48, "violation"),  # memory the strides never touch: not "the span"
    ([3, 4], [4, 1], 0, 46, "violation"),  # not a whole number of elements
    ([0, 4], [4, 1], 0, 4, "violation"),  # an empty tensor with memory
    ([1 << 22, 1 << 22], [0, 0], 0, 4, "limit"),  # stride 0 expanding to 64 TiB: over the cap before rebuilding
])
def test_strides_must_cover_exactly_the_memory_sent(shape, strides, first, nbytes, kind):
    with pytest.raises(wire.WireError) as exc:
        decode(tensor(shape, strides, first, nbytes), MEM)
    assert exc.value.kind == kind


def test_the_logical_budget_is_shared_across_a_run():
    budget = [200]
    node = tensor([10, 3], [0, 1], 0, 12)  # 12 bytes on the wire, 120 once rebuilt
    wire.decode_value(node, memoryview(MEM[:12]), [0], budget=budget)
    assert budget == [80]
    with pytest.raises(wire.WireError) as exc:
        wire.decode_value(node, memoryview(MEM[:12]), [0], budget=budget)
    assert exc.value.kind == "limit"
