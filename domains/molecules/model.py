"""E(3)-equivariant interatomic potential of the NequIP family.

Batzner et al., "E(3)-equivariant graph neural networks for data-efficient and accurate interatomic
potentials", Nat. Commun. 13, 2453 (2022); see also MACE (Batatia et al., NeurIPS 2022).

The potential energy of a structure is a sum of atomic energies,

.. math::

    E = \\sum_i \\big( E^{ref}_{Z_i} + \\mu + \\sigma\\, \\varepsilon(h_i^{(T)}) \\big),

where :math:`E^{ref}_Z` are per-element reference energies (isolated atoms, or a least-squares fit
to the training energies; see :mod:`.references`), :math:`\\mu` and :math:`\\sigma` a per-atom energy
shift and scale taken from the training data, and :math:`h_i^{(T)}` the invariant features of atom
:math:`i` after :math:`T` interaction blocks (:class:`.interaction.Interaction`) that start from a
learned embedding of the element. Every block only sees relative positions through spherical
harmonics and a radial basis that vanishes smoothly at the cut-off, so :math:`E` is invariant under
rotations, reflections, translations and permutations of identical atoms, and smooth.

Forces are :math:`\\vec F_i = -\\partial E / \\partial \\vec r_i` by automatic differentiation (they
are therefore conservative and equivariant by construction); the stress of a periodic structure is
:math:`V^{-1} \\partial E / \\partial \\epsilon` for a symmetric strain :math:`\\epsilon` applied
to positions and cell (ASE's sign convention, eV/Angstrom^3).

Heads, one per level of theory. Energies computed at two levels of theory (PBE and CCSD(T), say)
differ by more than per-element constants, so one set of weights cannot predict both. The
interaction blocks (the embedding, the radial basis and the equivariant features :math:`h^{(T)}`)
are shared; each level of theory has its own *head*: the readout MLP :math:`\\varepsilon`, the
references :math:`E^{ref}_Z`, :math:`\\mu` and :math:`\\sigma`. Fine-tuning on a new level of theory
adds a head initialised from an existing one (:meth:`EquivariantPotential.add_head`) and leaves the
old heads untouched, so they keep predicting their own level of theory as long as the shared
blocks move little (which EWC on the shared blocks sees to; MACE's multihead fine-tuning, Batatia
et al. 2023, *A foundation model for atomistic materials chemistry*, is the same idea). Calls
without ``head=`` use :attr:`EquivariantPotential.head`: the newest head, or for a fine-tuned
export the head it trained (a run may fine-tune an older head again), unless
:meth:`~EquivariantPotential.select_head` chose another.

A head may also own the last ``cfg.head_blocks`` interaction blocks (the ``blocks`` argument of
:meth:`~EquivariantPotential.add_head`; 0 by default, a readout-only head). Then the old level of theory's path
through those blocks cannot move at all while a new level is learnt, and the new level has blocks
of its own to recruit; only the blocks before them are shared (and anchored by EWC). The cost is
that many more parameters per head, and nothing else: a call runs one head's blocks.

The first head keeps the parameter and buffer names of the single-head potential (``readout.*``,
``reference_energies``, ``energy_shift``, ``energy_scale``, and its blocks ``blocks.<i>``; its name
is ``cfg.head``), so an export written before heads existed loads unchanged, as a potential with one
head named ``default``. Added heads live in ``extra_heads.<k>`` (their owned blocks in
``extra_heads.<k>.blocks.<j>``) and are described by ``cfg.heads``.

Units: Angstrom in, eV and eV/Angstrom out.
"""

from __future__ import annotations

import torch
from ase.data import atomic_numbers, chemical_symbols
from e3nn import o3
from torch import nn

from sciPT.errors import ConfigError, DataError

from .heads import Head, _readout
from .interaction import Interaction
from .potential_config import HeadConfig, PotentialConfig, check_head_name, head_names, validate
from .radial import RadialEmbedding

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A tensor autograd may record: batches made under ``torch.inference_mode`` (Lightning's
    validation) hold inference tensors, which cannot be saved for backward."""
    return t.clone() if t.is_inference() else t


def element_table(elements: list[str]) -> torch.Tensor:
    """long ``[119]``: each atomic number's index in ``elements``, -1 for an element not there."""
    table = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
    for index, symbol in enumerate(elements):
        table[atomic_numbers[symbol]] = index
    return table


def species_index(table: torch.Tensor, z: torch.Tensor, elements: list[str]) -> torch.Tensor:
    """Each atomic number's index in ``table`` (:func:`element_table`); an element not in it is a
    :class:`DataError` (an index of -1 would read the last element's parameters)."""
    index = table[z]
    if bool((index < 0).any()):
        symbol = chemical_symbols[int(z[index < 0][0])]
        raise DataError(
            f"element {symbol} is not in the model's element table ({', '.join(elements)}): the model never saw it"
        )
    return index


class EquivariantPotential(nn.Module):
    """NequIP-style potential: element embedding, equivariant interactions, atomic-energy readout.

    Args:
        cfg: architecture and data statistics (:class:`PotentialConfig`).

    Inputs (a :class:`torch_geometric.data.Data` or ``Batch``, as built by
    :func:`.graphs.frame_to_graph`):
        ``pos`` (N, 3) Angstrom; ``z`` (N,) atomic numbers; ``edge_index`` (2, E), row 0 the
        neighbour (source) and row 1 the centre atom (target); ``shifts`` (E, 3) integer cell
        offsets of the neighbour image; ``cell`` (G, 3, 3) lattice vectors as rows; ``periodic``
        (G,) bool; ``batch`` (N,) graph of each atom (absent for a single graph).

    Outputs (dict):
        ``energy`` (G,) eV and ``atomic_energies`` (N,) eV, both float64 whatever ``dtype``;
        ``features`` (N, channels), the invariant features the readout sees; ``forces`` (N, 3)
        eV/Angstrom when asked; ``stress`` (G, 3, 3) eV/Angstrom^3 when asked *and* at least one
        graph of the batch is periodic with a cell of non-zero volume, zeros for the other graphs
        of such a batch; absent otherwise (a molecule, or a slab whose non-periodic cell vector is
        zero, has no volume, hence no stress, and never a NaN one).
    """

    def __init__(self, cfg: PotentialConfig):
        super().__init__()
        validate(cfg)
        self.cfg = cfg
        self.dtype = _DTYPES[cfg.dtype]
        # built under the model's dtype, so constants (Clebsch-Gordan coefficients, spherical
        # harmonics normalisation) are never rounded through float32 on their way to float64
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            self._build(cfg)
        finally:
            torch.set_default_dtype(previous)

    def _build(self, cfg: PotentialConfig) -> None:
        n_elements = len(cfg.elements)
        self.register_buffer("z_to_index", element_table(cfg.elements), persistent=False)
        refs = cfg.reference_energies or [0.0] * n_elements
        # float64 whatever the model's dtype: a total energy of -4000 eV in float32 is only good
        # to 0.5 meV, while the learned part (a few eV per atom) is fine in float32
        self.register_buffer("reference_energies", torch.tensor(refs, dtype=torch.float64))
        self.register_buffer("energy_shift", torch.tensor(float(cfg.energy_shift)))
        self.register_buffer("energy_scale", torch.tensor(float(cfg.energy_scale)))

        self.sh = o3.SphericalHarmonics(
            o3.Irreps.spherical_harmonics(cfg.l_max), normalize=True, normalization="component"
        )
        self.radial = RadialEmbedding(cfg.cutoff, cfg.num_basis, cfg.cutoff_p)
        self.embedding = nn.Embedding(n_elements, cfg.channels)
        self.blocks = nn.ModuleList(self._interaction(layer) for layer in range(cfg.layers))
        self.readout = _readout(cfg.channels, cfg.readout_hidden)
        self.extra_heads = nn.ModuleList(
            Head(cfg.channels, cfg.readout_hidden, h, [self._interaction(i) for i in self._owned_layers()])
            for h in cfg.heads
        )
        # the head a call without head= uses, and select_head(None) returns to: the newest, or the one
        # an export says was fine-tuned (set by the loader, default_head)
        self.default_head = head_names(cfg)[-1]
        self.head = self.default_head

    def _interaction(self, layer: int) -> Interaction:
        cfg = self.cfg
        # the readout only needs scalars, so the last block computes no l > 0 features
        l_in = 0 if layer == 0 else cfg.l_max
        l_out = 0 if layer == cfg.layers - 1 else cfg.l_max
        return Interaction(
            cfg.channels,
            l_in,
            cfg.l_max,
            l_out,
            num_basis=cfg.num_basis,
            radial_hidden=cfg.radial_hidden,
            radial_layers=cfg.radial_layers,
            avg_num_neighbors=cfg.avg_num_neighbors or 1.0,
        )

    def _owned_layers(self) -> range:
        """Indices of the interaction blocks every head has its own copy of (the last ones)."""
        return range(self.cfg.layers - self.cfg.head_blocks, self.cfg.layers)

    # ------------------------------------------------------------------------------------------
    @property
    def elements(self) -> list[str]:
        return list(self.cfg.elements)

    def layer_groups(self) -> list[nn.Module]:
        """Parameter groups from input to output, for freezing and gradual unfreezing:
        ``[embedding (element embedding + radial basis), interaction 1, ..., interaction T,
        readouts (every head's)]``."""
        readouts = nn.ModuleList([self.readout, *(h.readout for h in self.extra_heads)])
        owned = self._owned_layers()
        blocks = [
            nn.ModuleList([block, *(h.blocks[i - owned.start] for h in self.extra_heads)])
            if i in owned
            else block
            for i, block in enumerate(self.blocks)
        ]
        return [nn.ModuleList([self.embedding, self.radial]), *blocks, readouts]

    # heads -----------------------------------------------------------------------------------
    @property
    def head_names(self) -> list[str]:
        """The heads, oldest first; the last is the default of :attr:`head`."""
        return head_names(self.cfg)

    def check_head(self, name: str, where: str = "head") -> str:
        """``name`` if the potential has that head; otherwise a :class:`UserError` naming them
        (``where``: the argument, flag or key that named it, :func:`.potential_config.check_head_name`)."""
        return check_head_name(name, self.head_names, where)

    def select_head(self, name: str | None, where: str = "head") -> EquivariantPotential:
        """Make ``name`` the head used by calls without ``head=`` (``None``: :attr:`default_head`,
        the newest head, or the one its export says was fine-tuned; ``where``: as :meth:`check_head`)."""
        self.head = self.default_head if name is None else self.check_head(name, where)
        return self

    def head_module(self, name: str | None = None) -> nn.Module:
        """What head ``name`` (default :attr:`head`) reads: a module with ``readout``,
        ``reference_energies``, ``energy_shift`` and ``energy_scale`` (the potential itself for
        the first head)."""
        index = self.head_names.index(self.check_head(name or self.head))
        return self if index == 0 else self.extra_heads[index - 1]

    def _head_blocks(self, head: nn.Module) -> list[nn.Module]:
        """The interaction blocks head module ``head`` owns (:meth:`head_module`)."""
        if head is self:
            return [self.blocks[i] for i in self._owned_layers()]
        return list(head.blocks)

    def head_parameter_names(self, name: str | None = None) -> list[str]:
        """Parameter names of head ``name`` (default :attr:`head`): its readout and the
        interaction blocks it owns."""
        index = self.head_names.index(self.check_head(name or self.head))
        if index == 0:
            prefixes = ("readout.", *(f"blocks.{i}." for i in self._owned_layers()))
        else:
            prefixes = (f"extra_heads.{index - 1}.",)
        return [n for n, _ in self.named_parameters() if n.startswith(prefixes)]

    def shared_parameter_names(self) -> list[str]:
        """Parameter names of the shared blocks: everything but the heads' own parameters."""
        heads = {n for name in self.head_names for n in self.head_parameter_names(name)}
        return [n for n, _ in self.named_parameters() if n not in heads]

    def add_head(self, name: str, copy_from: str | None = None, blocks: int | None = None) -> None:
        """Add head ``name``, a copy of head ``copy_from`` (default :attr:`head`): readout weights,
        owned blocks, references, shift and scale; it becomes the newest head, and :attr:`head`.

        ``blocks``: how many of the last interaction blocks every head owns (``None``: as the model
        says, ``cfg.head_blocks``). It can be chosen while the model has one head only: the first
        head then takes the blocks it owns from the shared ones."""
        if name in self.head_names:
            raise ConfigError(f"head '{name}': the model already has a head of that name")
        if blocks is not None and blocks != self.cfg.head_blocks:
            if self.cfg.heads:
                raise ConfigError(
                    f"head_blocks: the model's heads own {self.cfg.head_blocks} interaction block(s) "
                    f"each; head '{name}' cannot own {blocks}"
                )
            if not 0 <= blocks <= self.cfg.layers:
                raise ConfigError(
                    f"head_blocks: expected 0 to {self.cfg.layers} (the model's interaction blocks), got {blocks}"
                )
            self.cfg.head_blocks = blocks
        source = self.head_module(copy_from)
        cfg = HeadConfig(
            name,
            [float(x) for x in source.reference_energies],
            float(source.energy_shift),
            float(source.energy_scale),
            self.reference_span(copy_from),
            self.periodic_images(copy_from),
        )
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            owned = [self._interaction(i) for i in self._owned_layers()]
            head = Head(self.cfg.channels, self.cfg.readout_hidden, cfg, owned)
        finally:
            torch.set_default_dtype(previous)
        head.readout.load_state_dict(source.readout.state_dict())
        for mine, theirs in zip(head.blocks, self._head_blocks(source)):
            mine.load_state_dict(theirs.state_dict())
        device = self.reference_energies.device
        self.extra_heads.append(head.to(device))
        self.cfg.heads.append(cfg)
        self.head = name

    def set_reference_energies(self, references: dict[str, float], head: str | None = None) -> None:
        """Replace :math:`E^{ref}` of head ``head`` (default :attr:`head`; eV per element of the
        table), in the buffer and the config: fine-tuning on data at another level of theory needs
        that level's references."""
        missing = [s for s in self.cfg.elements if s not in references]
        if missing:
            raise DataError(f"reference energies: none given for element {missing[0]}")
        values = [float(references[s]) for s in self.cfg.elements]
        module = self.head_module(head)
        module.reference_energies.copy_(torch.tensor(values, dtype=torch.float64))
        index = self.head_names.index(head or self.head)
        if index == 0:
            self.cfg.reference_energies = values
        else:
            self.cfg.heads[index - 1].reference_energies = values

    def reference_span(self, head: str | None = None) -> list[list[float]] | None:
        """The compositions head ``head`` (default :attr:`head`) had its references fitted on
        (:attr:`.potential_config.PotentialConfig.reference_span`; ``None``: every one fixed)."""
        index = self.head_names.index(self.check_head(head or self.head))
        return self.cfg.reference_span if index == 0 else self.cfg.heads[index - 1].reference_span

    def set_reference_span(self, span: list[list[float]] | None, head: str | None = None) -> None:
        index = self.head_names.index(self.check_head(head or self.head))
        if index == 0:
            self.cfg.reference_span = span
        else:
            self.cfg.heads[index - 1].reference_span = span

    def periodic_images(self, head: str | None = None) -> bool | None:
        """Whether head ``head`` (default :attr:`head`) was trained on frames with periodic images
        within the cut-off (:attr:`.potential_config.PotentialConfig.periodic_images`; ``None``: not
        recorded)."""
        index = self.head_names.index(self.check_head(head or self.head))
        return self.cfg.periodic_images if index == 0 else self.cfg.heads[index - 1].periodic_images

    def set_periodic_images(self, seen: bool | None, head: str | None = None) -> None:
        index = self.head_names.index(self.check_head(head or self.head))
        if index == 0:
            self.cfg.periodic_images = seen
        else:
            self.cfg.heads[index - 1].periodic_images = seen

    def species(self, z: torch.Tensor) -> torch.Tensor:
        """Element-table index of each atomic number; an unknown element is a :class:`DataError`."""
        return species_index(self.z_to_index, z, self.cfg.elements)

    # ------------------------------------------------------------------------------------------
    def forward(
        self,
        data,
        *,
        forces: bool = True,
        stress: bool = False,
        create_graph: bool | None = None,
        head: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """Energies, and forces and stress by autograd.

        Args:
            data: a graph or batch of graphs (see the class docstring).
            head: the head (level of theory) to predict with; default :attr:`head`.
            forces: compute ``forces``.
            stress: compute ``stress`` for the periodic graphs.
            create_graph: keep the outputs differentiable with respect to the parameters (training
                on forces needs a double backward); defaults to ``self.training``. When false the
                outputs are detached, so evaluation keeps no graph alive.
        """
        if create_graph is None:
            create_graph = self.training
        # forces need autograd even under torch.no_grad / inference_mode (evaluation, ASE)
        with torch.inference_mode(False), torch.enable_grad():
            return self._forward(data, forces, stress, create_graph, self.head_module(head))

    def embed(self, data) -> torch.Tensor:
        """Per-atom embeddings ``(N, channels)``: the invariant features the readout sees. The
        samples of a potential are atomic environments (frames of one molecule pooled over their
        atoms differ too little to tell a collapsed representation from a healthy one)."""
        return self(data, forces=False, create_graph=False)["features"]

    def _forward(self, data, want_forces: bool, want_stress: bool, create_graph: bool, head: nn.Module):
        # geometry in float64 whatever the model's dtype: atoms far from the origin (a long run's
        # unwrapped atoms, coordinates with a large offset) keep exact differences; only the edge
        # vectors are cast
        pos = _plain(data.pos).detach().double()
        z = _plain(data.z)
        n_atoms = pos.shape[0]
        batch = (
            data.batch
            if getattr(data, "batch", None) is not None
            else torch.zeros(n_atoms, dtype=torch.long, device=pos.device)
        )
        batch = _plain(batch)
        n_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else 1
        src, dst = _plain(data.edge_index)
        cell = _plain(data.cell).double().reshape(-1, 3, 3)
        shifts = _plain(data.shifts).double()
        # periodic with a cell volume (frame_to_graph, data.has_volume): a slab periodic in two
        # directions with a zero third cell vector has no stress, like a molecule
        periodic = _plain(data.periodic).reshape(-1).bool()

        want_stress = want_stress and bool(periodic.any())
        needs_grad = want_forces or want_stress
        inputs = []
        if want_forces:
            pos.requires_grad_(True)
            inputs.append(pos)
        if want_stress:
            strain = torch.zeros(n_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
            inputs.append(strain)
            sym = 0.5 * (strain + strain.transpose(1, 2))
            pos = pos + torch.einsum("ni,nij->nj", pos, sym[batch])
            cell = cell + torch.bmm(cell, sym)

        with torch.set_grad_enabled(needs_grad or create_graph):
            vec = (pos[src] - pos[dst] + torch.einsum("ei,eij->ej", shifts, cell[batch[dst]])).to(self.dtype)
            length = vec.norm(dim=-1)
            edge_sh = self.sh(vec)
            edge_radial = self.radial(length)
            species = self.species(z)
            h = self.embedding(species).unsqueeze(1)
            shared = self.blocks[: self.cfg.layers - self.cfg.head_blocks]
            for block in [*shared, *self._head_blocks(head)]:
                h = block(h, src, dst, edge_sh, edge_radial)
            learned = head.readout(h[:, 0]).squeeze(-1) * head.energy_scale + head.energy_shift
            atomic = learned.double() + head.reference_energies[species]
            energy = torch.zeros(n_graphs, dtype=torch.float64, device=pos.device)
            energy = energy.index_add(0, batch, atomic)

        out = {"energy": energy, "atomic_energies": atomic, "features": h[:, 0]}
        if needs_grad:
            # a structure without a pair inside the cut-off (one atom, fragments far apart, a
            # sparse cell) has an energy independent of positions and strain: zero, not an error
            grads = [None] * len(inputs)
            if energy.requires_grad:
                grads = torch.autograd.grad(
                    energy.sum(),
                    inputs,
                    create_graph=create_graph,
                    retain_graph=create_graph,
                    allow_unused=True,
                )
            grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]
            if want_forces:
                out["forces"] = -grads[0].to(self.dtype)
            if want_stress:
                volume = torch.linalg.det(cell).abs()
                # graphs without a volume in a mixed batch: zero stress, never a division by zero
                safe = torch.where(periodic, volume, torch.ones_like(volume))
                out["stress"] = (grads[-1] / safe[:, None, None] * periodic[:, None, None]).to(self.dtype)
        if not create_graph:
            out = {k: v.detach() for k, v in out.items()}
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
