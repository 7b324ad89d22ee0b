"""`--precision auto` on a CPU: bfloat16 only where the CPU has the instructions and its bfloat16 matmuls are
measured to be faster; every worker of a multi-worker run chooses alike."""

import tensorflow as tf

from kbert.training import strategy as strategies


def _cpu(monkeypatch, flags: set[str], bf16_faster: bool):
    monkeypatch.setattr(strategies, "cpu_flags", lambda: flags)
    monkeypatch.setattr(strategies, "bf16_matmuls_pay", lambda: bf16_faster)


def test_a_cpu_with_bf16_instructions_gets_bf16_only_where_its_matmuls_are_faster(monkeypatch):
    default = tf.distribute.get_strategy()
    _cpu(monkeypatch, {"fpu", "avx512_bf16"}, bf16_faster=True)
    assert strategies.auto_precision(default) == "mixed_bfloat16"
    _cpu(monkeypatch, {"fpu", "avx512_bf16"}, bf16_faster=False)
    assert strategies.auto_precision(default) == "float32"
    _cpu(monkeypatch, {"fpu", "amx_bf16"}, bf16_faster=True)
    assert strategies.auto_precision(default) == "mixed_bfloat16"


def test_a_cpu_without_bf16_instructions_gets_float32_untimed(monkeypatch):
    monkeypatch.setattr(strategies, "cpu_flags", lambda: {"fpu", "avx2"})
    monkeypatch.setattr(strategies, "bf16_matmuls_pay", lambda: (_ for _ in ()).throw(AssertionError("timed")))
    assert strategies.auto_precision(tf.distribute.get_strategy()) == "float32"


def test_the_timing_is_a_decision_made_once():
    first = strategies.bf16_matmuls_pay()
    assert isinstance(first, bool) and strategies.bf16_matmuls_pay() is first
    assert strategies.bf16_matmuls_pay.cache_info().hits >= 1
