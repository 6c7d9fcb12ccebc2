"""The checks of the potential's config: architecture keys at their limits, the element table and
the data-filled statistics of every head, refused in one line naming the key."""

import math

import pytest

from sciPT.domains.molecules.potential_config import (
    HeadConfig,
    PotentialConfig,
    check_symbols,
    validate,
    validate_architecture,
)
from sciPT.errors import ConfigError


def refusal(check, cfg) -> str:
    with pytest.raises(ConfigError) as err:
        check(cfg)
    return str(err.value)


def filled(**kw) -> PotentialConfig:
    """A config as the data leaves it (elements and references filled), with ``kw`` changed."""
    return PotentialConfig(**{"elements": ["H", "O"], "reference_energies": [-13.6, -2035.6], **kw})


def test_architecture_limits_are_accepted_and_one_past_them_refused():
    """l_max 3, cutoff_p 2, radial_layers 0 and head_blocks = layers are documented as allowed (a
    refusal would block a valid model); one past each is refused naming the key and its range."""
    for ok in (
        dict(l_max=3),
        dict(l_max=0),
        dict(cutoff_p=2),
        dict(radial_layers=0),
        dict(layers=2, head_blocks=2),
        dict(cutoff=0.1),
    ):
        validate_architecture(PotentialConfig(**ok))
    for bad, says in (
        (dict(l_max=4), "model.l_max: expected 0, 1, 2 or 3, got 4"),
        (dict(cutoff_p=1), "model.cutoff_p: expected an integer >= 2, got 1"),
        (dict(radial_layers=-1), "model.radial_layers: expected an integer >= 0, got -1"),
        (
            dict(layers=2, head_blocks=3),
            "model.head_blocks: expected 0 to 2 (the interaction blocks), got 3",
        ),
        (dict(cutoff=0.0), "model.cutoff: expected a positive radius in Angstrom, got 0.0"),
        (dict(cutoff=math.inf), "model.cutoff: expected a positive radius in Angstrom, got inf"),
        (dict(readout_hidden=0), "model.readout_hidden: expected a positive integer, got 0"),
        (dict(num_basis=0), "model.num_basis: expected a positive integer, got 0"),
    ):
        assert refusal(validate_architecture, PotentialConfig(**bad)) == says


def test_the_dummy_species_x_is_refused_as_such():
    """ASE gives 'X' atomic number 0: a table holding it would embed a species no frame can have;
    the refusal says why, where it used to advise capitalising an X already capitalised."""
    check_symbols(["H", "Xe"])
    for symbol in ("X", "x"):
        assert refusal(check_symbols, ["H", symbol]) == (
            f"model.elements: {symbol!r} is not a chemical symbol: X is ASE's dummy atom, not an element"
        )


def test_the_filled_statistics_are_checked():
    """A zero energy scale divides the network's output unit to nothing, a neighbour count of 0
    divides the messages by zero, and references not one per element misalign the table."""
    validate(filled())
    assert refusal(validate, filled(reference_energies=[-13.6])) == (
        "model.reference_energies: 1 values for 2 elements ['H', 'O']"
    )
    assert refusal(validate, filled(energy_scale=0.0)) == (
        "model.energy_scale: expected a positive number, got 0.0"
    )
    assert refusal(validate, filled(avg_num_neighbors=0.0)) == (
        "model.avg_num_neighbors: expected a positive number, got 0.0"
    )
    assert refusal(validate, PotentialConfig()) == (
        "model.elements: the element table is empty (it is filled from the data)"
    )


def test_every_head_is_checked_as_the_first_one_is():
    """A head's name picks it (predict --head), so names are non-blank and distinct; its references
    and scale are used like the first head's, so they are checked alike."""
    refs = [-13.0, -2030.0]
    validate(filled(heads=[HeadConfig("ccsd", refs)]))
    assert refusal(validate, filled(heads=[HeadConfig("default", refs)])) == (
        "model.heads: repeated head names in ['default', 'default']"
    )
    assert refusal(validate, filled(heads=[HeadConfig(" ", refs)])) == (
        "model.heads: every head needs a non-empty name, got ['default', ' ']"
    )
    assert refusal(validate, filled(heads=[HeadConfig("ccsd", refs[:1])])) == (
        "model.heads: head 'ccsd' has 1 reference energies for 2 elements ['H', 'O']"
    )
    assert refusal(validate, filled(heads=[HeadConfig("ccsd", refs, energy_scale=0.0)])) == (
        "model.heads: head 'ccsd': expected a positive energy_scale, got 0.0"
    )
