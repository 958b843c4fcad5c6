"""The worker's models: each loaded once, all on one device. Plain Python (no Qt), used only in the worker's thread,
so that the worker's slots stay about scheduling and signals, and a device change is one call that either moves every
model or leaves them all where they were."""

from __future__ import annotations


class ModelStore:
    def __init__(self):
        self.bundles: dict = {}  # model name -> ModelBundle
        self.infos: dict = {}  # model name -> card plus "input_size" and "neuron_classes", as the GUI is sent it
        self.device = ""  # "" until the worker's set_device (before its first model): auto's choice or the one set

    def get(self, name: str) -> tuple[object, dict, bool]:
        """(bundle, info, whether it was loaded by this call) of model `name`; raises what loading raises."""
        if name in self.bundles:
            return self.bundles[name], self.infos[name], False
        from robustpaint.core.models.bundle import load_model_bundle
        from robustpaint.core.neurons import strongest_classes
        bundle = load_model_bundle(name, self.device or "cpu")  # the worker sets the device before the first model
        self.bundles[name] = bundle
        self.infos[name] = {**bundle.card, "input_size": bundle.model.input_size,  # also for cards without one
                            "neuron_classes": strongest_classes(bundle.model.head, bundle.model.classes)}
        return bundle, self.infos[name], True

    def move_to(self, device: str) -> None:
        """Moves every model to `device` (resolved already); on failure (out of GPU memory, say) every model goes
        back to where they all were and the error is raised."""
        try:
            for bundle in self.bundles.values():
                bundle.model.to(device)
        except Exception:
            back = self.device or "cpu"
            for bundle in self.bundles.values():
                bundle.model.to(back)
            raise
        self.device = device
