"""The encoder–decoder of Sutskever, Vinyals & Le (2014), §3.2, with the ablations' switches.

Two separate deep RNNs. The encoder reads the source (reversed, by default, as in the paper) and its
final state — every layer's — initialises the decoder: that state is the fixed-size "context vector".
The decoder starts from <sos> and predicts the target with a plain softmax over the target vocabulary.
``attention="luong"`` adds Luong et al.'s (2015) global attention ("general" score, no input feeding,
so the teacher-forced decoder stays one fused RNN call) for the bottleneck ablation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from repro.models.config import CELL_NAMES, ModelConfig

CELLS = dict(zip(CELL_NAMES, (nn.LSTM, nn.GRU, nn.RNN), strict=True))
# oneDNN (CPU bf16) compiles and caches one matmul, with its own reordered copy of the weights, per input
# shape (~20 MB each with an 11k vocabulary); the number of rows that reach the output layer (scored
# tokens, live hypotheses) changes with every batch, so they are padded to a multiple of this.
CPU_BF16_ROWS = 64

# An RNN state: (h, c) for an LSTM, h for a GRU or vanilla RNN; each tensor is [layers, batch, hidden].
RNNState = Tensor | tuple[Tensor, Tensor]


@dataclass
class EncoderOutput:
    state: RNNState  # final state of every layer: the context vector
    memory: Tensor  # [B, S, H] top-layer outputs (used only by attention)
    mask: Tensor  # [B, S] True at real (non-pad) source positions


@dataclass
class DecoderState:
    rnn: RNNState
    memory: Tensor | None = None
    mask: Tensor | None = None
    extras: dict = field(default_factory=dict)


def reverse_padded(tokens: Tensor, lengths: Tensor) -> Tensor:
    """Reverse the first ``lengths[b]`` tokens of each row, leaving the padding where it is."""
    seq_len = tokens.size(1)
    positions = torch.arange(seq_len, device=tokens.device).unsqueeze(0)
    lengths = lengths.to(tokens.device).unsqueeze(1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return tokens.gather(1, index)


def map_state(state: RNNState, fn) -> RNNState:
    """Apply ``fn`` to each tensor of an RNN state (LSTM states are (h, c) pairs)."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)  # type: ignore[return-value]
    return fn(state)


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        rnn = CELLS[c.cell]
        inter_layer_dropout = c.dropout if c.num_layers > 1 else 0.0
        self.src_embedding = nn.Embedding(c.src_vocab_size, c.embedding_size, padding_idx=c.pad_id)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.embedding_size, padding_idx=c.pad_id)
        self.encoder = rnn(c.embedding_size, c.hidden_size, c.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.decoder = rnn(c.embedding_size, c.hidden_size, c.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.dropout = nn.Dropout(c.dropout)
        if c.attention == "luong":
            self.attention_score = nn.Linear(c.hidden_size, c.hidden_size, bias=False)
            self.attention_combine = nn.Linear(2 * c.hidden_size, c.hidden_size, bias=False)
        self.output = nn.Linear(c.hidden_size, c.tgt_vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in [-init_range, init_range] (paper §3.4)."""
        for param in self.parameters():
            nn.init.uniform_(param, -self.config.init_range, self.config.init_range)
        with torch.no_grad():
            self.src_embedding.weight[self.config.pad_id].zero_()
            self.tgt_embedding.weight[self.config.pad_id].zero_()
            if self.config.forget_bias is not None:
                for rnn in (self.encoder, self.decoder):
                    for name, bias in rnn.named_parameters():
                        if name.startswith("bias_"):
                            # PyTorch's LSTM gate order is input, forget, cell, output
                            forget = bias[self.config.hidden_size:2 * self.config.hidden_size]
                            forget.fill_(self.config.forget_bias if name.startswith("bias_ih") else 0.0)

    def recurrent_parameters(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters()) + sum(p.numel() for p in self.decoder.parameters())

    # ----------------------------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """Read a right-padded batch given in natural order; the only place the source is reversed."""
        if self.config.reverse_source:
            src = reverse_padded(src, src_lengths)
        embedded = self.dropout(self.src_embedding(src))
        lengths_cpu = src_lengths.cpu()
        if bool((lengths_cpu == src.size(1)).all()):
            # No padding (length-bucketed batches usually have one length): packing would only cost time.
            memory, state = self.encoder(embedded)
        else:
            # Packing keeps padding out of the final state: each row's state is taken at its own length.
            packed = pack_padded_sequence(embedded, lengths_cpu, batch_first=True, enforce_sorted=False)
            packed_out, state = self.encoder(packed)
            memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        mask = torch.arange(src.size(1), device=src.device).unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)
        return EncoderOutput(state=state, memory=memory, mask=mask)

    def context_vector(self, encoded: EncoderOutput) -> Tensor:
        """The fixed-size summary the decoder starts from: every layer's final state, as [B, D]."""
        parts = encoded.state if isinstance(encoded.state, tuple) else (encoded.state,)
        return torch.cat([p.transpose(0, 1).reshape(p.size(1), -1) for p in parts], dim=1)

    # ----------------------------------------------------------------------------------- decoder
    def init_decoder_state(self, encoded: EncoderOutput) -> DecoderState:
        if self.config.attention == "none":
            return DecoderState(rnn=encoded.state)
        return DecoderState(rnn=encoded.state, memory=encoded.memory, mask=encoded.mask)

    def _attend(self, outputs: Tensor, state: DecoderState) -> Tensor:
        """Top-layer outputs [B, T, H] to the vectors the softmax reads: through attention when enabled."""
        if self.config.attention == "luong":
            assert state.memory is not None and state.mask is not None
            scores = torch.bmm(self.attention_score(outputs), state.memory.transpose(1, 2))  # [B, T, S]
            scores = scores.masked_fill(~state.mask.unsqueeze(1), -math.inf)
            weights = torch.softmax(scores, dim=-1)
            context = torch.bmm(weights, state.memory)
            outputs = torch.tanh(self.attention_combine(torch.cat([context, outputs], dim=-1)))
        return outputs

    def _project(self, outputs: Tensor, state: DecoderState) -> Tensor:
        return self._vocab_logits(self.dropout(self._attend(outputs, state)))

    def _vocab_logits(self, vectors: Tensor) -> Tensor:
        """The output layer on vectors [..., H]; under CPU bf16 autocast, rows padded to ``CPU_BF16_ROWS``."""
        if not (vectors.device.type == "cpu" and torch.is_autocast_enabled("cpu")):
            return self.output(vectors)
        rows = vectors.reshape(-1, vectors.size(-1))
        pad = -rows.size(0) % CPU_BF16_ROWS
        logits = self.output(torch.cat([rows, rows.new_zeros(pad, rows.size(1))]) if pad else rows)
        return logits[: rows.size(0)].reshape(*vectors.shape[:-1], -1)

    def decode_step(self, prev_tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One decoder step: previous tokens [B] -> log-probabilities [B, V] and the new state."""
        embedded = self.dropout(self.tgt_embedding(prev_tokens.unsqueeze(1)))
        outputs, rnn_state = self.decoder(embedded, state.rnn)
        new_state = DecoderState(rnn=rnn_state, memory=state.memory, mask=state.mask, extras=state.extras)
        logits = self._project(outputs, new_state).squeeze(1).float()  # fp32 softmax, also under bf16 autocast
        if logits.requires_grad:
            return torch.log_softmax(logits, dim=-1), new_state
        # Decoding (no autograd): the logits are this step's own tensor, normalised in place (the same
        # kernel and values, without a second [B, V] buffer to allocate and fill).
        return torch.log_softmax(logits, dim=-1, out=logits), new_state

    @staticmethod
    def reorder_state(state: DecoderState, index: Tensor) -> DecoderState:
        """Select batch rows of a decoder state (beam search keeps, drops and copies hypotheses).

        The attention memory and mask of a row depend only on its source sentence. ``extras["memory_rows"]``
        records which original row's memory each row holds; when a selection leaves every row on the
        same source as before (beam search following parents within each sentence's beam), the memory
        and mask are kept as they are instead of being copied at every step.
        """
        rnn = map_state(state.rnn, lambda s: s.index_select(1, index))
        if state.memory is None:
            return DecoderState(rnn=rnn, mask=None if state.mask is None else state.mask.index_select(0, index),
                                extras=state.extras)
        rows = state.extras.get("memory_rows")
        if rows is None:
            rows = torch.arange(state.memory.size(0), device=index.device)
        new_rows = rows.index_select(0, index)
        if new_rows.shape == rows.shape and torch.equal(new_rows, rows):
            memory, mask = state.memory, state.mask
        else:
            memory = state.memory.index_select(0, index)
            mask = None if state.mask is None else state.mask.index_select(0, index)
        return DecoderState(rnn=rnn, memory=memory, mask=mask, extras={**state.extras, "memory_rows": new_rows})

    # ----------------------------------------------------------------------------------- training
    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, teacher_forcing_ratio: float = 1.0,
        positions: Tensor | None = None, vectors: bool = False,
    ) -> Tensor:
        """Logits [B, T, V] for ``tgt_in`` = <sos> y1 .. y_{T-1} (right-padded).

        ``positions`` (bool [B, T]): return logits [N, V] of those positions only (the scored, non-pad
        ones), so that the vocabulary projection, the largest matrix product, skips the padding.
        ``vectors`` (teacher forcing only): return what the output layer would read, [N, H] or [B, T, H],
        for a loss fused with it (``repro.train.loss.linear_cross_entropy``).
        With ``teacher_forcing_ratio`` < 1 each decoder input after the first is, with probability
        1 - ratio, the model's own previous prediction (argmax) instead of the reference token.
        """
        state = self.init_decoder_state(self.encode(src, src_lengths))
        if teacher_forcing_ratio >= 1.0:
            outputs, _ = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), state.rnn)
            attended = self._attend(outputs, state)
            if positions is not None:
                attended = attended[positions]
            attended = self.dropout(attended)
            return attended if vectors else self._vocab_logits(attended)
        if vectors:
            raise ValueError("vectors=True needs teacher forcing (teacher_forcing_ratio = 1)")
        logits = self._forward_free_running(tgt_in, state, teacher_forcing_ratio)
        return logits if positions is None else logits[positions]

    def _forward_free_running(self, tgt_in: Tensor, state: DecoderState, ratio: float) -> Tensor:
        logits_per_step = []
        inputs = tgt_in[:, 0]
        rnn_state = state.rnn
        for t in range(tgt_in.size(1)):
            if t > 0:
                use_reference = torch.rand(tgt_in.size(0), device=tgt_in.device) < ratio
                predicted = logits_per_step[-1].argmax(dim=-1)
                inputs = torch.where(use_reference, tgt_in[:, t], predicted)
            embedded = self.dropout(self.tgt_embedding(inputs.unsqueeze(1)))
            outputs, rnn_state = self.decoder(embedded, rnn_state)
            step_state = DecoderState(rnn=rnn_state, memory=state.memory, mask=state.mask)
            logits_per_step.append(self._project(outputs, step_state).squeeze(1))
        return torch.stack(logits_per_step, dim=1)
