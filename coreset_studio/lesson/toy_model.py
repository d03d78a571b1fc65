"""The toy model of the NUCS paper's Section 3.2, computed numerically, and a check of its eq. 6.

The paper's setting: two classes C0, C1 (N points each) whose kept parts follow
`N(mu0, sigma0)` and `N(mu1, sigma1)` (`mu0 < mu1`), kept ratios `f0 + f1 = 2f`, a threshold
rule `x <= t -> C0`. Its eq. 3 scales each class's accuracy by its ratio ("the fitting error
is positively correlated with the amount of training data"):
`Acc_j(t) = c f_j P(x on the right side of t | C_j)`; eq. 4 is their average; eq. 5 sets both
partial derivatives to zero and eq. 6 concludes `f0 / f1 = sigma0 / sigma1`.

Two numeric readings of that setting are computed here:

- **The paper's objective** (eqs. 3-4): for every allocation `f0` the best threshold is found
  by a dense grid plus a bounded refinement. Eq. 4 is linear in `f0` for every `t`, so the
  best accuracy over `t` is a maximum of linear functions of `f0`: convex, largest at the ends
  of the allowed range. The point that eq. 5 solves is a saddle (the Hessian is indefinite),
  not a maximum.
- **A fitted threshold** (the setting of DRoP, the paper's [32], whose toy example the paper
  extends; our reading, not the paper's text): the threshold is the one that maximises the
  accuracy on the kept data (class weights `f0`, `f1`), and accuracy is measured on the full
  classes. Here the ratio matters through the fitted threshold; the average and the
  worst-class accuracy are optimised over `f0` numerically.

Class accuracies are Gaussian integrals, evaluated with `scipy.special.ndtr`. Everything is
deterministic; the tests check it against a seeded Monte-Carlo brute force.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import ndtr

#: Default grid sizes: allocations and thresholds.
F0_POINTS, T_POINTS = 401, 4001
#: Two accuracies closer than this count as tied optima.
TIE_TOL = 1e-6


@dataclass(frozen=True)
class ToyModel:
    """Two 1-D Gaussian classes, overall kept ratio `f` and the paper's constant `c`."""

    mu0: float = 0.0
    mu1: float = 2.0
    sigma0: float = 0.5
    sigma1: float = 1.0
    f: float = 0.3
    c: float = 1.0

    def __post_init__(self) -> None:
        values = {k: float(getattr(self, k)) for k in ("mu0", "mu1", "sigma0", "sigma1", "f", "c")}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"toy model: {', '.join(bad)} must be finite numbers")
        if values["sigma0"] <= 0 or values["sigma1"] <= 0:
            raise ValueError("toy model: sigma0 and sigma1 must be > 0 (they are the classes' spreads)")
        if not values["mu0"] < values["mu1"]:
            raise ValueError(f"toy model: the paper assumes mu0 < mu1, got mu0={values['mu0']}, mu1={values['mu1']}; "
                             "swap them")
        if not 0 < values["f"] <= 1:
            raise ValueError(f"toy model: f (the overall kept ratio) must be in (0, 1], got {values['f']}")
        if values["c"] <= 0:
            raise ValueError(f"toy model: c must be > 0, got {values['c']}")
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @property
    def f0_range(self) -> tuple[float, float]:
        """Allowed `f0`: both ratios in `[0, 1]` with `f0 + f1 = 2f`."""
        return max(0.0, 2 * self.f - 1.0), min(1.0, 2 * self.f)

    @property
    def eq6_f0(self) -> float:
        """The paper's eq. 6: `f0 / f1 = sigma0 / sigma1` with `f0 + f1 = 2f`."""
        return 2 * self.f * self.sigma0 / (self.sigma0 + self.sigma1)

    @property
    def equal_z_threshold(self) -> float:
        """The first line of eq. 5: `(mu0 - t) / sigma0 = (t - mu1) / sigma1`."""
        return (self.sigma1 * self.mu0 + self.sigma0 * self.mu1) / (self.sigma0 + self.sigma1)

    def class_accuracies(self, t) -> tuple[np.ndarray, np.ndarray]:
        """`P(x <= t | C0)` and `P(x > t | C1)` (the Gaussian integrals)."""
        t = np.asarray(t, dtype=np.float64)
        return ndtr((t - self.mu0) / self.sigma0), ndtr((self.mu1 - t) / self.sigma1)

    def paper_objective(self, t, f0) -> np.ndarray:
        """Eq. 3 averaged over the two classes: `c/2 (f0 Acc0(t) + (2f - f0) Acc1(t))`."""
        a0, a1 = self.class_accuracies(t)
        f0 = np.asarray(f0, dtype=np.float64)
        return 0.5 * self.c * (f0 * a0 + (2 * self.f - f0) * a1)

    def t_grid(self, points: int = T_POINTS) -> np.ndarray:
        """Thresholds covering both classes to 10 spreads (beyond that nothing changes in float64)."""
        s = max(self.sigma0, self.sigma1)
        return np.linspace(self.mu0 - 10 * s, self.mu1 + 10 * s, int(points))

    def fitted_threshold(self, f0: float, points: int = T_POINTS) -> float:
        """The threshold with the highest accuracy on the kept data (weights `f0`, `2f - f0`)."""
        f1 = 2 * self.f - f0

        def kept_accuracy(t):
            a0, a1 = self.class_accuracies(t)
            return f0 * a0 + f1 * a1

        grid = self.t_grid(points)
        return _refine_max(kept_accuracy, grid, kept_accuracy(grid), xatol=1e-10)


@dataclass
class ToyAnalysis:
    """Curves over the allocation `f0`, the numeric optima and eq. 6 beside them."""

    model: ToyModel
    f0: np.ndarray  #: allocation grid (includes f and eq. 6's f0)
    paper_best: np.ndarray  #: max over t of the paper's objective (eq. 4, averaged eq. 3)
    paper_optima: list[float]  #: every grid f0 whose paper_best ties the maximum
    paper_max: float
    eq6_paper_best: float  #: max over t of the paper's objective at eq. 6's allocation
    uniform_paper_best: float  #: the same at f0 = f1 = f
    stationary_point: tuple[float, float]  #: (t, f0) solving eq. 5
    stationary_hessian_eigs: tuple[float, float]  #: of the paper's objective there (mixed signs: saddle)
    fitted_t: np.ndarray  #: threshold fitted to the kept data, per f0
    fitted_mean: np.ndarray  #: average class accuracy on the full classes, per f0
    fitted_worst: np.ndarray  #: worst-class accuracy on the full classes, per f0
    mean_optimum: float  #: f0 maximising fitted_mean (refined)
    worst_optimum: float  #: f0 maximising fitted_worst (refined)
    verdict: dict[str, str] = field(default_factory=dict)

    def ratio(self, f0: float) -> float:
        """`f0 / f1` (inf when f1 = 0)."""
        f1 = 2 * self.model.f - f0
        return math.inf if f1 <= 0 else f0 / f1

    def frame(self):
        """Long table for a chart: f0, f0/f1, curve name, accuracy."""
        import pandas as pd

        curves = {"paper's objective (eq. 4), best t": self.paper_best,
                  "fitted t: average accuracy": self.fitted_mean,
                  "fitted t: worst-class accuracy": self.fitted_worst}
        return pd.concat([pd.DataFrame({"f0": self.f0, "curve": name, "accuracy": values})
                          for name, values in curves.items()], ignore_index=True)


def _hessian(fn, x: float, y: float, h: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian of `fn(x, y)`."""
    fxx = (fn(x + h, y) - 2 * fn(x, y) + fn(x - h, y)) / h ** 2
    fyy = (fn(x, y + h) - 2 * fn(x, y) + fn(x, y - h)) / h ** 2
    fxy = (fn(x + h, y + h) - fn(x + h, y - h) - fn(x - h, y + h) + fn(x - h, y - h)) / (4 * h ** 2)
    return np.array([[fxx, fxy], [fxy, fyy]])


def _refine_max(fn, grid: np.ndarray, values: np.ndarray, xatol: float = 1e-9) -> float:
    """Argmax of `fn` near the best grid point (bounded Brent between the neighbours; `values` = fn(grid))."""
    i = int(np.argmax(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if hi <= lo:
        return float(grid[i])
    res = minimize_scalar(lambda x: -fn(x), bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    return float(res.x) if -res.fun >= values[i] else float(grid[i])


def _fitted_accuracies(model: ToyModel, f0: float, t_points: int) -> tuple[float, float, float]:
    t = model.fitted_threshold(f0, t_points)
    a0, a1 = model.class_accuracies(t)
    return t, 0.5 * float(a0 + a1), float(min(a0, a1))


def analyse(model: ToyModel | None = None, *, f0_points: int = F0_POINTS, t_points: int = T_POINTS) -> ToyAnalysis:
    """Both readings of the toy model over a grid of allocations, with eq. 6 beside the optima."""
    model = model or ToyModel()
    if int(f0_points) < 3 or int(t_points) < 101:
        raise ValueError("f0_points must be >= 3 and t_points >= 101 for a meaningful grid")
    lo, hi = model.f0_range
    f0 = np.unique(np.concatenate([np.linspace(lo, hi, int(f0_points)),
                                   [min(max(model.eq6_f0, lo), hi), model.f]]))
    # the best threshold of the paper's objective is the one fitted to the kept data (same weights)
    paper_best = np.array([model.paper_objective(model.fitted_threshold(x, t_points), x) for x in f0])
    paper_max = float(paper_best.max())
    optima = [float(x) for x in f0[paper_best >= paper_max - TIE_TOL]]
    t_star, f0_star = model.equal_z_threshold, model.eq6_f0
    eigs = np.linalg.eigvalsh(_hessian(lambda t, x: float(model.paper_objective(t, x)), t_star, f0_star))
    fitted = np.array([_fitted_accuracies(model, x, t_points) for x in f0])
    mean_opt = _refine_max(lambda x: _fitted_accuracies(model, x, t_points)[1], f0, fitted[:, 1])
    worst_opt = _refine_max(lambda x: _fitted_accuracies(model, x, t_points)[2], f0, fitted[:, 2])
    out = ToyAnalysis(model=model, f0=f0, paper_best=paper_best, paper_optima=optima, paper_max=paper_max,
                      eq6_paper_best=float(np.interp(model.eq6_f0, f0, paper_best)),
                      uniform_paper_best=float(np.interp(model.f, f0, paper_best)),
                      stationary_point=(t_star, f0_star), stationary_hessian_eigs=(float(eigs[0]), float(eigs[1])),
                      fitted_t=fitted[:, 0], fitted_mean=fitted[:, 1], fitted_worst=fitted[:, 2],
                      mean_optimum=mean_opt, worst_optimum=worst_opt)
    out.verdict = _verdict(out)
    return out


def _verdict(a: ToyAnalysis) -> dict[str, str]:
    """Plain-language verdicts with the numbers (the lesson page shows them)."""
    m = a.model
    eq6 = m.sigma0 / m.sigma1
    ends = ", ".join(f"f0 = {x:.3g}" for x in a.paper_optima)
    lo, hi = a.stationary_hessian_eigs
    paper_agrees = any(abs(x - m.eq6_f0) < 2 * (a.f0[1] - a.f0[0]) for x in a.paper_optima)
    paper = (f"{'Agrees' if paper_agrees else 'Does not agree'}. The paper's objective (eq. 4) is linear in f0 "
             f"for every threshold, so its best value over t is largest at the ends of the allowed range: "
             f"numeric optimum {ends} (accuracy {a.paper_max:.4f} = c·f, all of the budget on one class), against "
             f"{a.eq6_paper_best:.4f} at eq. 6's f0 = {m.eq6_f0:.3g} (f0/f1 = {eq6:.3g}) and "
             f"{a.uniform_paper_best:.4f} at the uniform f0 = {m.f:.3g}. The point eq. 5 solves "
             f"(t = {a.stationary_point[0]:.3g}, f0 = {m.eq6_f0:.3g}) is a saddle: Hessian eigenvalues "
             f"{lo:.3g} and {hi:.3g}.")
    worst_ratio, mean_ratio = a.ratio(a.worst_optimum), a.ratio(a.mean_optimum)
    worst_agrees = abs(worst_ratio - eq6) <= 0.01 * eq6
    fitted = (f"With the threshold fitted to the kept data (DRoP's setting, our reading), the worst-class accuracy "
              f"is highest at f0/f1 = {worst_ratio:.4f} (eq. 6: sigma0/sigma1 = {eq6:.4f}) - "
              f"{'agrees' if worst_agrees else 'does not agree'}; the average accuracy is highest at "
              f"f0/f1 = {mean_ratio:.4f} (uniform is 1).")
    note = ("The paper calls the lower-variance class the harder one, yet eq. 6 gives the lower-variance class the "
            "smaller ratio; eq. 4 is also c(f - f0 Phi - f1 Phi), not the average of eq. 3 (a factor 2 on the error "
            "terms, which does not move the optimum).")
    return {"paper": paper, "paper_agrees": str(paper_agrees), "fitted": fitted,
            "fitted_worst_agrees": str(worst_agrees), "note": note,
            **_plain_sentences(a, paper_agrees, worst_agrees, worst_ratio, mean_ratio)}


def _plain_sentences(a: ToyAnalysis, paper_agrees: bool, worst_agrees: bool, worst_ratio: float,
                     mean_ratio: float) -> dict[str, str]:
    """Three sentences for a learner: what the paper claims, what the toy model shows, what eq. 6 optimises."""
    m = a.model
    eq6 = m.sigma0 / m.sigma1
    claims = (f"The paper claims that keeping the classes in the ratio f0/f1 = sigma0/sigma1 (eq. 6; here "
              f"{eq6:.3g}, so f0 = {m.eq6_f0:.3g}) maximises the average accuracy of its objective, eq. 4.")
    ends = " or ".join(f"{x:.3g}" for x in a.paper_optima)
    shows = ("The toy model shows " + (f"that eq. 4 is indeed largest there (f0 = {ends})." if paper_agrees else
             f"that eq. 4 is largest at f0 = {ends}, the whole budget on one class: at eq. 6's allocation it reaches "
             f"{a.eq6_paper_best:.3f} against {a.paper_max:.3f}, and the point eq. 5 solves is a saddle, not a "
             "maximum."))
    if worst_agrees:
        optimises = (f"What eq. 6 does optimise is the worst-class accuracy when the threshold is fitted to the "
                     f"kept data: it peaks at f0/f1 = {worst_ratio:.3g}, eq. 6's ratio, while the average accuracy "
                     f"peaks at f0/f1 = {mean_ratio:.3g}.")
    else:
        optimises = (f"Eq. 6 ({eq6:.3g}) optimises neither objective computed here: with a fitted threshold the "
                     f"worst-class accuracy peaks at f0/f1 = {worst_ratio:.3g} and the average at {mean_ratio:.3g}.")
    return {"claims": claims, "shows": shows, "optimises": optimises}


__all__ = ["ToyAnalysis", "ToyModel", "analyse"]
