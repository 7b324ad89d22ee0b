"""The runnable examples in the model docstrings run and print what they say."""

import doctest

import kbert.models


def test_model_docstring_examples_run():
    result = doctest.testmod(kbert.models, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
