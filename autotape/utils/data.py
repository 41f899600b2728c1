"""``autotape.utils.data``: PyTorch's ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``
and ``DataLoader``, for mini-batch loops:
``for xb, yb in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)``.

A batch of a ``TensorDataset`` is one indexing of each of its tensors (a slice in order, an index
tensor when shuffled), not a stack of single samples, so a batch costs one op per tensor. Any
other dataset's samples are collated as PyTorch's ``default_collate`` does. Batches are made in
this process: ``num_workers`` is accepted and changes nothing but speed, which it does not add."""
import collections.abc
import numbers

import numpy as np

from .. import dtypes
from ..factories import randperm, tensor
from ..ops.shape import stack
from ..tensor import Tensor


class Dataset:
    """A map from indices ``0 .. len - 1`` to samples: subclasses define ``__getitem__`` and
    ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Sample ``i`` is ``(t[i] for t in tensors)``; the tensors share their first dimension."""

    def __init__(self, *tensors):
        if any(not isinstance(t, Tensor) for t in tensors):
            raise TypeError("TensorDataset takes tensors: wrap arrays with autotape.tensor(...) or from_numpy(...)")
        if tensors and any(t.dim() == 0 or t.size(0) != tensors[0].size(0) for t in tensors):
            raise ValueError("Size mismatch between tensors: every tensor of a TensorDataset needs the same first "
                             f"dimension (got shapes {[list(t.shape) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0) if self.tensors else 0


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """``dataset`` cut at random into ``Subset``s of ``lengths`` (counts that add up to its
    length, or fractions that add up to 1: the remainder goes one by one to the first parts, as
    PyTorch does), from autotape's random state."""
    n = len(dataset)
    if lengths and all(0 <= f <= 1 for f in lengths) and abs(sum(lengths) - 1) < 1e-9 and sum(lengths) != n:
        counts = [int(f * n) for f in lengths]  # (PyTorch floors, then hands out the rest round robin)
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = randperm(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length]))
        start += length
    return out


def default_collate(batch):
    """A list of samples as one batch, as PyTorch collates them: tensors, arrays and numbers are
    stacked into a tensor with a new first dimension; tuples, lists and dicts are collated field
    by field; strings stay a list."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(list(batch))
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    if isinstance(first, (bool, np.bool_)):
        return tensor(batch)
    if isinstance(first, numbers.Integral):
        return tensor(batch)  # int64, as in PyTorch
    if isinstance(first, numbers.Real):
        return tensor(batch, dtype=dtypes.float64)  # Python floats collate to float64 in PyTorch
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, collections.abc.Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(first).__name__}: pass collate_fn=... to the DataLoader")


class DataLoader:
    """Batches of ``dataset``: ``batch_size`` samples each (``None``: single samples,
    uncollated), in order or reshuffled each epoch (``shuffle=True``, from autotape's random
    state: ``manual_seed`` repeats it), the last short batch kept unless ``drop_last``."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 generator=None, prefetch_factor=None, persistent_workers=False):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle should be a boolean value, but got shuffle={shuffle}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                             "drop_last")
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.sampler, self.batch_sampler, self.num_workers = sampler, batch_sampler, num_workers
        self.collate_fn = collate_fn

    def _order(self):
        """One epoch's sample indices: a list, or None for the plain order."""
        if self.sampler is not None:
            return list(self.sampler)
        return randperm(len(self.dataset)).tolist() if self.shuffle else None

    def _batches(self):
        """The index batches of one epoch: slices where the order is plain, else index lists."""
        if self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        order = self._order()
        total = len(self.dataset) if order is None else len(order)
        for start in range(0, total, self.batch_size):
            stop = min(start + self.batch_size, total)
            if self.drop_last and stop - start < self.batch_size:
                return
            yield slice(start, stop) if order is None else order[start:stop]

    def __iter__(self):
        data = self.dataset
        if self.batch_size is None and self.batch_sampler is None:  # single samples, not collated
            order = self._order()
            for i in range(len(data)) if order is None else order:
                yield data[i] if self.collate_fn is None else self.collate_fn(data[i])
            return
        # one indexing per tensor for a TensorDataset (or a Subset of one); PyTorch's collate of tuples is a list
        base = data.dataset if type(data) is Subset else data
        direct = self.collate_fn is None and type(base) is TensorDataset
        for index in self._batches():
            if direct:
                if base is not data:  # a Subset's positions, as indices of its TensorDataset
                    index = data.indices[index] if isinstance(index, slice) else [data.indices[i] for i in index]
                yield list(base[index if isinstance(index, slice) else tensor(index)])
                continue
            if isinstance(index, slice):
                index = range(index.start, index.stop)
            samples = [data[i] for i in index]
            yield (self.collate_fn or default_collate)(samples)

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
