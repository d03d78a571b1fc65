"""Selection and reweighting methods. Importing this package registers every method with the registry."""
from . import (  # noqa: F401  (imported for their @register side effects)
    bws,
    ccs,
    cw_erm,
    d2,
    el2n,
    kcenter,
    moderate,
    nucs,
    random,
    ram_apl,
)
from .registry import (MethodSpec, Reweighting, Selection, get_method, list_methods, list_reweighting_methods,
                       method_specs, register, register_reweighting, reweight, run_method, select)

__all__ = ["MethodSpec", "Reweighting", "Selection", "get_method", "list_methods", "list_reweighting_methods",
           "method_specs", "register", "register_reweighting", "reweight", "run_method", "select"]
