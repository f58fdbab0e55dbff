"""Naming a model's variables the same way in every instance of it."""


def variable_key(model, variable):
    """`variable`'s path without `model`'s own (instance-numbered) name, e.g. `block_0/fc1/kernel`.

    Two instances of one architecture give their variables the same keys, which
    is what weights files and `keras_videogpt.prior.warm_start` match on.
    """
    prefix = model.name + "/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path
