"""Selection methods. Importing this package registers every method with the registry."""
from . import (  # noqa: F401  (imported for their @register side effects)
    bws,
    ccs,
    d2,
    el2n,
    kcenter,
    moderate,
    nucs,
    random,
    ram_apl,
)
from .registry import MethodSpec, Selection, get_method, list_methods, method_specs, register, run_method, select

__all__ = ["MethodSpec", "Selection", "get_method", "list_methods", "method_specs", "register", "run_method", "select"]
