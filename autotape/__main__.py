"""``python -m autotape``: fit the tutorial polynomial to sin(x), show progress, print the fit
and where the time went (forward/recording, backward/replay, optimizer)."""
import argparse
import math
import sys
import time

import autotape as torch  # the tutorial's spelling
import autotape.nn  # noqa: F401  (until autotape/__init__ imports nn and optim itself)
import autotape.optim  # noqa: F401

DEFAULT_LR = {"cubic": 1e-6, "legendre": 5e-6, "nn": 1e-6}


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = (5x^3 - 3x) / 2, with its derivative written by hand."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class Cubic(torch.nn.Module):
    prepare = staticmethod(lambda x: x)  # what the model takes as input, made from x once

    def __init__(self, dtype):
        super().__init__()
        for name in "abcd":
            setattr(self, name, torch.nn.Parameter(torch.randn((), dtype=dtype)))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def formula(self):
        return f"y = {self.a.item():.6g} + {self.b.item():.6g} x + {self.c.item():.6g} x^2 + {self.d.item():.6g} x^3"


class Legendre(torch.nn.Module):
    prepare = staticmethod(lambda x: x)

    def __init__(self, dtype):
        super().__init__()
        for name, v in zip("abcd", (0.0, -1.0, 0.0, 0.3)):  # the tutorial's start: near a good fit
            setattr(self, name, torch.nn.Parameter(torch.full((), v, dtype=dtype)))

    def forward(self, x):
        return self.a + self.b * LegendrePolynomial3.apply(self.c + self.d * x)

    def formula(self):
        return (f"y = {self.a.item():.6g} + {self.b.item():.6g} * P3({self.c.item():.6g} + "
                f"{self.d.item():.6g} x)")


class PolyNN(torch.nn.Module):
    """Linear(3, 1) on the features (x, x^2, x^3), flattened to one output per point."""

    def __init__(self, dtype):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 1, dtype=dtype), torch.nn.Flatten(0, 1))
        self.register_buffer("powers", torch.tensor([1, 2, 3]))

    def prepare(self, x):
        return x.unsqueeze(-1).pow(self.powers)  # the features, computed once as in the tutorial

    def forward(self, xx):
        return self.net(xx)

    def formula(self):
        w, b = self.net[0].weight, self.net[0].bias
        return (f"y = {b.item():.6g} + {w[0, 0].item():.6g} x + {w[0, 1].item():.6g} x^2 + "
                f"{w[0, 2].item():.6g} x^3")


MODELS = {"cubic": Cubic, "legendre": Legendre, "nn": PolyNN}


class Progress:
    """A bar redrawn in place on a terminal; plain periodic lines when stdout is a file or pipe."""

    def __init__(self, total, stream=None):
        self.total, self.stream = total, stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every = max(1, total // 10)
        self.last_draw = 0.0

    def update(self, step, loss_fn):
        done = step == self.total
        if self.tty:
            now = time.perf_counter()
            if not done and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            width = 30
            filled = width * step // self.total
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {100 * step // self.total:3d}%  step {step}/{self.total}  "
                              f"loss {loss_fn():.6g}" + ("\n" if done else ""))
            self.stream.flush()
        elif done or step % self.every == 0:
            print(f"step {step:>{len(str(self.total))}}/{self.total}  loss {loss_fn():.6g}", file=self.stream,
                  flush=True)


def _parser():
    p = argparse.ArgumentParser(prog="autotape", description=__doc__.split("\n")[0].replace("``", ""))
    p.add_argument("--model", choices=sorted(MODELS), default="cubic",
                   help="cubic: a + b x + c x^2 + d x^3; legendre: a + b P3(c + d x) (custom Function); "
                        "nn: Linear(3, 1) on (x, x^2, x^3)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the tutorial's for the model)")
    p.add_argument("--points", type=int, default=2000, help="points on [-pi, pi]")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="OUT.png", help="save the data, the fit and the loss curve (needs matplotlib)")
    return p


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # no display needed: we only write a file
    import matplotlib.pyplot as plt

    return plt


def fit(model, x, y, steps, lr, progress=None):
    """SGD on the sum of squared errors; (losses, seconds per phase, records per step)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    inputs = model.prepare(x)
    clock = time.perf_counter
    phases = {"forward (record)": 0.0, "backward (replay)": 0.0, "optimizer": 0.0}
    first_step, losses, records = 0.0, [], 0
    profiled = max(steps - PROFILED_STEPS, 1)  # the last steps run under the profiler
    prof = torch.profiler.profile()
    for t in range(steps):
        if t == profiled:
            prof.__enter__()
        t0 = clock()
        loss = (model(inputs) - y).pow(2).sum()
        t1 = clock()
        records = getattr(getattr(loss, "_tape", None), "n_records", 0)
        loss.backward()
        t2 = clock()
        optimizer.step()
        optimizer.zero_grad()
        t3 = clock()
        if t == 0:  # compiling or loading the Numba cache: reported apart
            first_step = t3 - t0
        else:
            phases["forward (record)"] += t1 - t0
            phases["backward (replay)"] += t2 - t1
            phases["optimizer"] += t3 - t2
        losses.append(loss.item())
        if progress is not None:
            progress.update(t + 1, lambda: losses[-1])
    if steps > profiled:
        prof.__exit__(None, None, None)
    return losses, phases, first_step, records, prof if steps > profiled else None


PROFILED_STEPS = 100


def report(phases, first_step, steps, wall, records, prof=None):
    timed = sum(phases.values())
    n = max(steps - 1, 1)
    print(f"\nProfile: {steps} steps in {wall:.3f} s; first step {first_step * 1e3:.1f} ms "
          "(Numba compile or cache load)")
    print(f"  {'phase':<20}{'total':>10}{'per step':>12}{'share':>8}")
    rows = list(phases.items()) + [("other (loop, I/O)", max(wall - first_step - timed, 0.0))]
    for name, secs in rows:
        share = 100 * secs / max(wall - first_step, 1e-12)
        print(f"  {name:<20}{secs:>9.3f}s{secs / n * 1e6:>10.1f}us{share:>7.1f}%")
    if records:
        print(f"  tape: {records} records per step, replayed in one compiled call per backward()")
    if prof is not None:
        n = sum(r["count"] for r in prof.key_averages().rows) // max(records, 1)
        print(f"\nPer op over the last {n} steps (autotape.profiler; replay timed inside compiled code):")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def plot(path, x, y, model, losses, plt):
    with torch.no_grad():
        fitted = model(model.prepare(x))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(x.numpy(), y.numpy(), label="sin(x)")
    ax1.plot(x.numpy(), fitted.numpy(), "--", label="fit")
    ax1.set_xlabel("x")
    ax1.set_title(f"fit after {len(losses)} steps")
    ax1.legend()
    ax2.semilogy(range(1, len(losses) + 1), losses)
    ax2.set_xlabel("step")
    ax2.set_title("loss (sum of squared errors)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.steps < 1 or args.points < 1:
        print("autotape: --steps and --points must be positive", file=sys.stderr)
        return 2
    plt = None
    if args.plot:
        plt = _pyplot()
        if plt is None:  # say so before training, not after
            print("autotape: --plot needs matplotlib, which is not installed: pip install matplotlib "
                  "(or pip install 'autotape[plot]')", file=sys.stderr)
            return 2
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    lr = DEFAULT_LR[args.model] if args.lr is None else args.lr
    x = torch.linspace(-math.pi, math.pi, args.points, dtype=dtype)
    y = torch.sin(x)
    model = MODELS[args.model](dtype)
    print(f"Fitting sin(x) on {args.points} points with the {args.model} model: {args.steps} steps of SGD, "
          f"lr={lr:g}, {args.dtype}")
    start = time.perf_counter()
    losses, phases, first_step, records, prof = fit(model, x, y, args.steps, lr, Progress(args.steps))
    wall = time.perf_counter() - start
    print(f"Result: {model.formula()}")
    print(f"Final loss: {losses[-1]:.6g}")
    report(phases, first_step, args.steps, wall, records, prof)
    if plt is not None:
        plot(args.plot, x, y, model, losses, plt)
        print(f"Saved the fit and the loss curve to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
