"""What every test may use: where the real public samples are, and a tiny saved model per session.

The tiny models, tokenizers and toy pairs themselves are in tests/tiny_models.py (one kit, importable by
name: `from tiny_models import tiny_llama, toy_pairs`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
"""../shared beside the clone (as CI has it): the real public samples under data/, and the reports' text."""
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; a test asking for it is skipped where the samples are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A saved tiny ChatML Llama backbone without a score head, pad == EOS as SmolLM2 ships
    (tiny_models.tiny_backbone_dir(kind="chatml")). Read-only: tests write their runs elsewhere."""
    from tiny_models import tiny_backbone_dir

    return tiny_backbone_dir(tmp_path_factory.mktemp("tiny") / "llama", "chatml")


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> Path:
    """`tiny` with a Gemma-3 backbone whose sliding-window layer sees 128 tokens back: more than the tests'
    max_length 96, so packed pairs compute what separate sequences do (tiny_models.chatml_gemma3)."""
    from tiny_models import chatml_gemma3

    return chatml_gemma3(tmp_path_factory.mktemp("tiny") / "gemma3", sliding_window=128)
