"""Record classes: the part of :mod:`dataclasses` kdrender uses, without its start-up cost.

``dataclasses`` imports :mod:`inspect` (and with it ``ast``, ``dis``, ``tokenize``, ``typing``) and
builds each class with several ``exec`` calls: together about 20 ms of every process start, and
Argo CD starts ``kdrender generate`` once per Application and refresh (issue 12).  The classes
of the load -> render path are records instead; the other command families (review, scaffold)
keep ``dataclasses``.

``@record`` (``frozen``, ``order``) reads the class's own annotations, in order, as its fields; a
field's default is its class attribute, or :func:`field` with ``default`` or ``default_factory``,
and ``compare=False`` to leave it out of equality, ordering and hashing, as in ``dataclasses``.
It adds ``__init__`` (fields by position or name; ``__post_init__`` runs last), ``__repr__`` and ``__eq__``; with
``frozen``, ``__hash__`` and a ``__setattr__``/``__delattr__`` that refuse; with ``order``, the
four comparisons.  :func:`replace` makes a changed copy (through ``__init__``, like
``dataclasses.replace``), :func:`fields` names the fields.
"""

from __future__ import annotations

import operator

_MISSING = object()


class Field:
    __slots__ = ("name", "default", "factory", "compare")

    def __init__(self, default=_MISSING, factory=None, compare: bool = True):
        self.name, self.default, self.factory, self.compare = "", default, factory, compare


def field(*, default=_MISSING, default_factory=None, compare: bool = True) -> Field:
    if default is not _MISSING and default_factory is not None:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, compare)


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record."""


def record(cls=None, *, frozen: bool = False, order: bool = False):
    def wrap(cls):
        return _build(cls, frozen, order)

    return wrap if cls is None else wrap(cls)


def fields(obj) -> tuple:
    """The :class:`Field` s of a record class or instance, in order."""
    return obj.__record_fields__


def replace(obj, **changes):
    """A copy of ``obj`` with ``changes``, made through ``__init__`` (``__post_init__`` runs again)."""
    names = {f.name for f in obj.__record_fields__}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {unknown[0]!r}")
    values = {name: getattr(obj, name) for name in names}
    values.update(changes)
    return type(obj)(**values)


def _build(cls, frozen: bool, order: bool):
    own = cls.__dict__.get("__annotations__", {})
    found = []
    for name in own:
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(value)
        spec.name = name
        if spec.default is not _MISSING:
            setattr(cls, name, spec.default)  # as dataclasses leave it: a class attribute
        elif isinstance(value, Field):
            delattr(cls, name)
        if spec.default is _MISSING and spec.factory is None and any(
                f.default is not _MISSING or f.factory is not None for f in found):
            raise TypeError(f"non-default field {name!r} follows a default field in {cls.__name__}")
        found.append(spec)
    specs = tuple(found)
    cls.__record_fields__ = specs
    _add_init(cls, specs)
    compared = tuple(f.name for f in specs if f.compare)

    def key(self):
        return tuple(getattr(self, n) for n in compared)

    def __eq__(self, other):
        return key(self) == key(other) if other.__class__ is self.__class__ else NotImplemented

    def __repr__(self):
        return f"{type(self).__qualname__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in specs)})"

    methods = {"__eq__": __eq__, "__repr__": __repr__}
    if frozen:
        def __setattr__(self, name, value):
            raise FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self, name):
            raise FrozenInstanceError(f"cannot delete field {name!r}")

        def __hash__(self):
            return hash(key(self))

        methods.update(__setattr__=__setattr__, __delattr__=__delattr__, __hash__=__hash__)
    else:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as in dataclasses
    if order:
        def compare(test):
            def method(self, other):
                return test(key(self), key(other)) if other.__class__ is self.__class__ else NotImplemented
            return method

        methods.update(__lt__=compare(operator.lt), __le__=compare(operator.le), __gt__=compare(operator.gt),
                       __ge__=compare(operator.ge))
    for name, method in methods.items():
        if name not in cls.__dict__:
            if method is not None:
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
    return cls


def _add_init(cls, specs: tuple) -> None:
    """``__init__`` taking the fields by position or name, defaults filled in (no ``exec``: compiling
    source for each class costs more at start than the loop costs per record)."""
    names = tuple(f.name for f in specs)
    defaults = {f.name: f for f in specs if f.default is not _MISSING or f.factory is not None}
    post_init = hasattr(cls, "__post_init__")
    put = object.__setattr__
    qualname = cls.__qualname__

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes {len(names)} fields, {len(args)} given")
        for name, value in zip(names, args):
            put(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                put(self, name, kwargs.pop(name))
            elif name in defaults:
                spec = defaults[name]
                put(self, name, spec.factory() if spec.factory is not None else spec.default)
            else:
                raise TypeError(f"{qualname}() missing the field {name!r}")
        if kwargs:
            unknown = next(iter(kwargs))
            raise TypeError(f"{qualname}() got an unexpected field {unknown!r}" if unknown not in names
                            else f"{qualname}() got the field {unknown!r} twice")
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = f"{qualname}.__init__"
    cls.__init__ = __init__
