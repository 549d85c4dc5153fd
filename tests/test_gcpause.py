"""aichoreo.gcpause.FrozenHeap: the objects of before frozen for a block, given back after; nesting;
the full collections inside timed."""

from __future__ import annotations

import gc

from aichoreo.gcpause import FrozenHeap


def test_a_block_freezes_the_objects_of_before_and_gives_them_back():
    before = gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # alive when the block starts
    with FrozenHeap() as heap:
        assert gc.get_freeze_count() >= before + len(kept)
        with FrozenHeap() as inner:  # nested: the outer block's freeze stands
            gc.collect()
        assert gc.get_freeze_count() >= before + len(kept)
        gc.collect()
    assert gc.get_freeze_count() == before
    assert heap.summary["full_collections"] == 2 and inner.summary["full_collections"] == 1
    assert 0 < heap.summary["longest_ms"] < 1000
    assert heap._time not in gc.callbacks and inner._time not in gc.callbacks


def test_garbage_of_before_is_collected_first_or_kept_until_the_end():
    import weakref

    class Node:
        pass

    def garbage_cycle() -> weakref.ref:
        node = Node()
        node.self = node  # unreachable once returned: only a collection frees it
        return weakref.ref(node)

    gone = garbage_cycle()
    with FrozenHeap(collect_first=True):
        assert gone() is None  # collected before the freeze
    kept = garbage_cycle()
    with FrozenHeap():
        gc.collect()
        assert kept() is not None  # frozen with the rest: out of the collector's sight
    gc.collect()
    assert kept() is None  # given back, and collected
