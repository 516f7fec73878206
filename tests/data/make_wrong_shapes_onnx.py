"""Writes wrong_shapes.onnx: a tiny ONNX model with the input of a YOLO segmentation export
(`images`, [1, 3, 64, 64]) but two 4-dimensional outputs (copies of the input) instead of
predictions [1, 4+nc+nm, anchors] and prototypes [1, nm, h, w]. Used by tests/cli/catalogue.rs.

Run: training/.venv/bin/python tests/data/make_wrong_shapes_onnx.py
"""

from pathlib import Path

import onnx
from onnx import TensorProto, helper

shape = [1, 3, 64, 64]
graph = helper.make_graph(
    [
        helper.make_node("Identity", ["images"], ["output0"]),
        helper.make_node("Identity", ["images"], ["output1"]),
    ],
    "wrong_shapes",
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
    [
        helper.make_tensor_value_info("output0", TensorProto.FLOAT, shape),
        helper.make_tensor_value_info("output1", TensorProto.FLOAT, shape),
    ],
)
model = helper.make_model(
    graph, producer_name="corrflow-tests", opset_imports=[helper.make_opsetid("", 13)]
)
model.ir_version = 8
helper.set_model_props(model, {"task": "segment", "stride": "32", "imgsz": "[64, 64]"})
onnx.checker.check_model(model)
out = Path(__file__).with_name("wrong_shapes.onnx")
onnx.save(model, out)
print(out, out.stat().st_size, "bytes")
