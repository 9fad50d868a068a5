"""A thin editing view of an ONNX graph: constants by name, producers, readers, new initializers, pruning."""

from __future__ import annotations

import numpy as np


class Graph:
    """The graph of an ``onnx.ModelProto``, edited in place."""

    def __init__(self, model) -> None:
        self.model = model
        self.graph = model.graph
        self._initializers = {init.name: init for init in self.graph.initializer}
        self._names = {name for node in self.graph.node for name in node.output} | set(self._initializers)
        self._arrays: dict[str, np.ndarray] = {}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` when it is constant: an initializer, a Constant node, or an Identity of one."""
        if name in self._arrays:
            return self._arrays[name]
        from onnx import numpy_helper

        value = None
        if name in self._initializers:
            value = numpy_helper.to_array(self._initializers[name])
        else:
            node = self.producers().get(name)
            if node is not None and node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                value = numpy_helper.to_array(node.attribute[0].t)
            elif node is not None and node.op_type == "Identity":
                value = self.constant(node.input[0])
        if value is not None:
            self._arrays[name] = value
        return value

    def vector(self, name: str) -> np.ndarray | None:
        """``name``'s value when it is a constant float vector of two or more elements."""
        value = self.constant(name)
        return value if value is not None and value.ndim == 1 and value.size > 1 and value.dtype == np.float32 else None

    def producers(self) -> dict:
        """Tensor name -> the node that writes it."""
        return {out: node for node in self.graph.node for out in node.output}

    def readers(self) -> dict[str, list]:
        """Tensor name -> the nodes that read it (once per input naming it)."""
        found: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                found.setdefault(name, []).append(node)
        return found

    def name(self, hint: str) -> str:
        """A tensor name not used yet in the graph, from ``hint``."""
        name, i = hint, 0
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def add_constant(self, array: np.ndarray, hint: str) -> str:
        """Store ``array`` as a new initializer; return its name."""
        from onnx import numpy_helper

        name = self.name(hint)
        init = numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.graph.initializer.append(init)
        self._initializers[name] = init
        self._arrays[name] = array
        return name

    def prune(self) -> int:
        """Drop the nodes no graph output depends on and the initializers nothing reads; return nodes dropped."""
        producers = self.producers()
        needed = {value.name for value in self.graph.output}
        keep: set[int] = set()
        stack = list(needed)
        while stack:
            node = producers.get(stack.pop())
            if node is None or id(node) in keep:
                continue
            keep.add(id(node))
            stack.extend(name for name in node.input if name)
        kept = [node for node in self.graph.node if id(node) in keep]
        dropped = len(self.graph.node) - len(kept)
        del self.graph.node[:]
        self.graph.node.extend(kept)
        read = {name for node in kept for name in node.input} | needed
        unused = [init for init in self.graph.initializer if init.name not in read]
        for init in unused:
            self.graph.initializer.remove(init)
            self._initializers.pop(init.name, None)
        return dropped
