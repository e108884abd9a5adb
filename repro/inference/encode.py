"""The encoder's final state of every layer (``model.context_vector``) for given sentences (Figure 2).

Sentences are passed in natural order; the model reverses them itself when it was trained reversed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from repro.data.vocab import PAD_ID
from repro.inference.beam_search import _model_device, pad_sources
from repro.inference.config import DecodeConfig
from repro.models.seq2seq import Seq2Seq

# The phrases of the paper's Figure 2 (§3.8): left panel, word order; right panel, voice.
FIG2_PHRASES = {
    "left": [
        "John admires Mary", "Mary admires John", "Mary is in love with John",
        "John is in love with Mary", "John respects Mary", "Mary respects John",
    ],
    "right": [
        "I gave her a card in the garden", "In the garden, I gave her a card",
        "She was given a card by me in the garden", "She gave me a card in the garden",
        "In the garden, she gave me a card", "I was given a card by her in the garden",
    ],
}


@torch.no_grad()  # not inference_mode: under bf16 autocast it would re-cast the weights for every batch
def encode_sentences(model: Seq2Seq, sources: Sequence[Sequence[int]],
                     batch_size: int = DecodeConfig.batch_size,
                     progress: bool = False, bf16: bool = False) -> np.ndarray:
    """``[N, num_layers * hidden (* 2 for an LSTM: h then c)]`` float32 context vectors, input order.

    ``bf16``: run the encoder under bf16 autocast (the vectors are still returned as float32).
    """
    from tqdm import tqdm

    from repro.device import Precision

    device = _model_device(model)
    precision = Precision(device, bf16)
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    out: np.ndarray | None = None
    for k in tqdm(range(0, len(order), batch_size), desc="encode", unit="batch", disable=not progress):
        batch = order[k : k + batch_size]
        src, lengths = pad_sources([sources[i] for i in batch], PAD_ID, device)
        with precision.autocast():
            vectors = model.context_vector(model.encode(src, lengths)).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(sources), vectors.shape[1]), dtype=np.float32)
        out[batch] = vectors
    if out is None:
        return np.zeros((0, 0), dtype=np.float32)
    return out
