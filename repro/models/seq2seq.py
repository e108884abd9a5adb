"""The encoder–decoder of Sutskever, Vinyals & Le (2014), §3.2, with the ablations' switches.

Two separate deep RNNs. The encoder reads the source (reversed, by default, as in the paper) and its
final state — every layer's — initialises the decoder: that state is the fixed-size "context vector".
The decoder starts from <sos> and predicts the target with a plain softmax over the target vocabulary.

For the bottleneck ablation the decoder may also attend over the encoder's top-layer outputs h_j (the
"memory"), with one of the forms of :mod:`repro.models.attention` (``model.attention``: Luong's, after
the RNN step, optionally with input feeding; or Bahdanau's, before it, its context fed into the RNN).
The decoder asks the form's object (``self.attention``, None without attention) where the context goes;
that object holds the attention layers, so a form's parameters are named ``attention.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from repro.models.attention import Attention, attention_class
from repro.models.config import ModelConfig
from repro.models.forms import CELLS

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
    # Per source sentence (attention only): reorder_state copies them only when rows change sentence.
    memory: Tensor | None = None  # [B, S, H] encoder top-layer outputs h_j
    mask: Tensor | None = None  # [B, S] True at real source positions
    keys: Tensor | None = None  # [B, S, H] Attention.precompute_keys (bahdanau: U h_j), once per source
    # Per hypothesis, changes every step (input feeding): h~_{t-1}, the vector the output layer last read.
    feed: Tensor | None = None  # [B, H]
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


def top_hidden(state: RNNState) -> Tensor:
    """The top layer's hidden state [B, H] (h, not an LSTM's cell c): Bahdanau's attention query s_{t-1}."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        rnn = getattr(nn, CELLS[c.cell].class_name)
        form = attention_class(c.attention)
        inter_layer_dropout = c.dropout if c.num_layers > 1 else 0.0
        self.src_embedding = nn.Embedding(c.src_vocab_size, c.embedding_size, padding_idx=c.pad_id)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.embedding_size, padding_idx=c.pad_id)
        # Input feeding and Bahdanau's context each add a hidden_size vector to the decoder's input.
        fed = c.input_feeding or (form is not None and form.feeds_context)
        decoder_input = c.embedding_size + (c.hidden_size if fed else 0)
        self.encoder = rnn(c.embedding_size, c.hidden_size, c.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.decoder = rnn(decoder_input, c.hidden_size, c.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.dropout = nn.Dropout(c.dropout)
        # Registered between the decoder and the output layer, where the attention layers have always been:
        # the uniform init draws in registration order, so a seed gives the weights it always gave.
        self.attention: Attention | None = form(c.hidden_size) if form is not None else None
        self.output = nn.Linear(c.hidden_size, c.tgt_vocab_size)
        self.reset_parameters()

    def _load_from_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *args: Any, **kwargs: Any) -> None:
        """Load checkpoints written before the attention forms were modules: ``attention_score.weight`` is
        now ``attention.score.weight``, and so on for query, key, v and combine."""
        for old in [key for key in state_dict if key.startswith(prefix + "attention_")]:
            state_dict[prefix + "attention." + old[len(prefix + "attention_"):]] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        if self.attention is None:
            return DecoderState(rnn=encoded.state)
        state = DecoderState(rnn=encoded.state, memory=encoded.memory, mask=encoded.mask,
                             keys=self.attention.precompute_keys(encoded.memory))
        if self.config.input_feeding:  # nothing to feed yet at t = 1
            state.feed = encoded.memory.new_zeros(encoded.memory.size(0), self.config.hidden_size)
        return state

    @property
    def _steps_one_by_one(self) -> bool:
        """Whether step t's RNN input depends on step t-1's attention, so teacher forcing cannot be fused."""
        return self.config.input_feeding or (self.attention is not None and self.attention.feeds_context)

    def _attend(self, outputs: Tensor, state: DecoderState) -> Tensor:
        """After the RNN step: top-layer outputs [B, T, H] -> h~_t [B, T, H]; unchanged without attention."""
        if self.attention is None:
            return outputs
        assert state.memory is not None and state.mask is not None
        context, _ = self.attention(outputs, state.memory, state.mask, state.keys)
        return self.attention.attentional_vector(context, outputs)

    def _decoder_step(self, embedded: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One step on embedded inputs [B, 1, E]: the vectors the output layer reads [B, 1, H] (after
        dropout) and the new state. Every decoding path goes through here, except fused teacher forcing."""
        if self.attention is not None and self.attention.feeds_context:
            assert state.memory is not None and state.mask is not None
            # The query is s_{t-1}, the top layer of the state the step starts from.
            context, _ = self.attention(top_hidden(state.rnn), state.memory, state.mask, state.keys)  # [B, 1, H]
            outputs, rnn = self.decoder(torch.cat([embedded, context], dim=-1), state.rnn)
            vectors = self.dropout(self.attention.attentional_vector(context, outputs))
        else:
            if self.config.input_feeding:
                assert state.feed is not None
                embedded = torch.cat([embedded, state.feed.unsqueeze(1)], dim=-1)
            outputs, rnn = self.decoder(embedded, state.rnn)
            vectors = self.dropout(self._attend(outputs, state))
        return vectors, replace(state, rnn=rnn, feed=vectors.squeeze(1) if self.config.input_feeding else None)

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
        vectors, new_state = self._decoder_step(embedded, state)
        logits = self._vocab_logits(vectors).squeeze(1).float()  # fp32 softmax, also under bf16 autocast
        if logits.requires_grad:
            return torch.log_softmax(logits, dim=-1), new_state
        # Decoding (no autograd): the logits are this step's own tensor, normalised in place (the same
        # kernel and values, without a second [B, V] buffer to allocate and fill).
        return torch.log_softmax(logits, dim=-1, out=logits), new_state

    @staticmethod
    def reorder_state(state: DecoderState, index: Tensor) -> DecoderState:
        """Select batch rows of a decoder state (beam search keeps, drops and copies hypotheses).

        The RNN state and the input-feeding vector belong to the hypothesis and always follow ``index``.
        The attention memory, mask and keys of a row depend only on its source sentence.
        ``extras["memory_rows"]`` records which original row's memory each row holds; when a selection
        leaves every row on the same source as before (beam search following parents within each
        sentence's beam), they are kept as they are instead of being copied at every step.
        """
        def select(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.index_select(0, index)

        rnn = map_state(state.rnn, lambda s: s.index_select(1, index))
        if state.memory is None:
            return DecoderState(rnn=rnn, mask=select(state.mask), feed=select(state.feed), extras=state.extras)
        rows = state.extras.get("memory_rows")
        if rows is None:
            rows = torch.arange(state.memory.size(0), device=index.device)
        new_rows = rows.index_select(0, index)
        if new_rows.shape == rows.shape and torch.equal(new_rows, rows):
            memory, mask, keys = state.memory, state.mask, state.keys
        else:
            memory, mask, keys = select(state.memory), select(state.mask), select(state.keys)
        return DecoderState(rnn=rnn, memory=memory, mask=mask, keys=keys, feed=select(state.feed),
                            extras={**state.extras, "memory_rows": new_rows})

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
            embedded = self.dropout(self.tgt_embedding(tgt_in))
            if self._steps_one_by_one:
                attended = torch.cat(self._teacher_forced_steps(embedded, state), dim=1)  # dropout applied
                if positions is not None:
                    attended = attended[positions]
            else:  # one fused RNN call over the whole target
                outputs, _ = self.decoder(embedded, state.rnn)
                attended = self._attend(outputs, state)
                if positions is not None:
                    attended = attended[positions]
                attended = self.dropout(attended)
            return attended if vectors else self._vocab_logits(attended)
        if vectors:
            raise ValueError("vectors=True needs teacher forcing (teacher_forcing_ratio = 1)")
        logits = self._forward_free_running(tgt_in, state, teacher_forcing_ratio)
        return logits if positions is None else logits[positions]

    def _teacher_forced_steps(self, embedded: Tensor, state: DecoderState) -> list[Tensor]:
        """The decoder one step at a time over embedded reference inputs [B, T, E]: T vectors [B, 1, H]."""
        per_step = []
        for t in range(embedded.size(1)):
            step_vectors, state = self._decoder_step(embedded[:, t : t + 1], state)
            per_step.append(step_vectors)
        return per_step

    def _forward_free_running(self, tgt_in: Tensor, state: DecoderState, ratio: float) -> Tensor:
        logits_per_step = []
        inputs = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            if t > 0:
                use_reference = torch.rand(tgt_in.size(0), device=tgt_in.device) < ratio
                predicted = logits_per_step[-1].argmax(dim=-1)
                inputs = torch.where(use_reference, tgt_in[:, t], predicted)
            embedded = self.dropout(self.tgt_embedding(inputs.unsqueeze(1)))
            step_vectors, state = self._decoder_step(embedded, state)
            logits_per_step.append(self._vocab_logits(step_vectors).squeeze(1))
        return torch.stack(logits_per_step, dim=1)
