"""Test-only shim (see tests/fakes/shims/README.md): LeRobot's follower imports torchvision but never calls it."""


def __getattr__(name):
    raise AttributeError(f"torchvision.transforms.{name}: liftrl's test shim for an import the SO-101 follower never uses "
                         f"(tests/fakes/shims/README.md)")
