"""Writes a tiny BERT-shaped ONNX model and its WordPiece vocabulary into the folder given as argv[1].

Inputs input_ids, attention_mask, token_type_ids (int64 [batch, seq]); output last_hidden_state (float [batch, seq, 8]).
last_hidden_state[b, s] = E[input_ids[b, s]] + T[token_type_ids[b, s]] + 0 * attention_mask[b, s], where
E[i][j] = ((i * 7 + j * 3) % 11 - 5) / 5 and T[t][j] = 0.1 * (t + 1). The test recomputes these by hand.
Padding positions get E[0] (non-zero), so pooling that forgets the attention mask is caught.
Needs Debian's python3-onnx (run with /usr/bin/python3).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran",
         "fast", "slow", "a", "b", "c", "d", "e", "f", "play", "##ing", "##s", "run", "jump", "##ed", "hello", "world"]
H = 8

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
E = np.array([[((i * 7 + j * 3) % 11 - 5) / 5.0 for j in range(H)] for i in range(len(VOCAB))], dtype=np.float32)
T = np.array([[0.1 * (t + 1) for _ in range(H)] for t in range(2)], dtype=np.float32)

nodes = [
    helper.make_node("Gather", ["E", "input_ids"], ["tok"], axis=0),
    helper.make_node("Gather", ["T", "token_type_ids"], ["typ"], axis=0),
    helper.make_node("Add", ["tok", "typ"], ["sum"]),
    helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
    helper.make_node("Mul", ["mask_f", "zero"], ["mask_zero"]),
    helper.make_node("Unsqueeze", ["mask_zero", "axis2"], ["mask3"]),
    helper.make_node("Add", ["sum", "mask3"], ["last_hidden_state"]),
]
graph = helper.make_graph(
    nodes, "tiny_bert",
    [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in ("input_ids", "attention_mask", "token_type_ids")],
    [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", H])],
    [numpy_helper.from_array(E, "E"), numpy_helper.from_array(T, "T"),
     numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
     numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="nexusrag-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "model.onnx"))
with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(VOCAB) + "\n")
print("ok")
