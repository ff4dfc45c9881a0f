"""The model is retrained when, and only when, what it learns from changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.runtime.train import fingerprint, fingerprint_path, is_up_to_date, model_path, training_files


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "stories").mkdir()
    (tmp_path / "data" / "rules").mkdir()
    (tmp_path / "data" / "town").mkdir()
    (tmp_path / "config.yml").write_text("language: fr\n")
    (tmp_path / "domain.yml").write_text("version: '3.1'\n")
    (tmp_path / "bot" / "runtime" / "components").mkdir(parents=True)
    (tmp_path / "bot" / "runtime" / "components" / "nlu.py").write_text("# component\n")
    (tmp_path / "bot" / "runtime" / "server.py").write_text("# not trained\n")
    (tmp_path / "data" / "nlu" / "chitchat.yml").write_text("nlu: []\n")
    (tmp_path / "data" / "town" / "services.yml").write_text("services: []\n")
    return tmp_path


def test_training_files_are_config_domain_and_training_data_only(project: Path) -> None:
    names = [p.relative_to(project).as_posix() for p in training_files(project)]
    assert names == ["config.yml", "domain.yml", "bot/runtime/components/nlu.py", "data/nlu/chitchat.yml"]


def test_a_change_to_any_pipeline_component_retrains(project: Path) -> None:
    before = fingerprint(project)
    (project / "bot" / "runtime" / "components" / "spacy.py").write_text("# another component\n")
    assert fingerprint(project) != before


def test_the_server_is_not_a_training_input(project: Path) -> None:
    before = fingerprint(project)
    (project / "bot" / "runtime" / "server.py").write_text("# changed\n")
    assert fingerprint(project) == before


def test_fingerprint_follows_content_not_timestamps(project: Path) -> None:
    before = fingerprint(project)
    later = time.time() + 3600
    os.utime(project / "config.yml", (later, later))
    assert fingerprint(project) == before
    (project / "data" / "nlu" / "chitchat.yml").write_text("nlu: [] # changed\n")
    assert fingerprint(project) != before


def test_a_new_training_file_changes_the_fingerprint(project: Path) -> None:
    before = fingerprint(project)
    (project / "data" / "rules" / "extra.yml").write_text("rules: []\n")
    assert fingerprint(project) != before


def test_town_data_does_not_retrain_the_model(project: Path) -> None:
    before = fingerprint(project)
    (project / "data" / "town" / "services.yml").write_text("services: [mairie]\n")
    assert fingerprint(project) == before


def test_model_is_up_to_date_only_with_a_matching_fingerprint(project: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    assert not is_up_to_date(models, project)
    model_path(models).write_bytes(b"model")
    assert not is_up_to_date(models, project)
    fingerprint_path(models).write_text(fingerprint(project) + "\n")
    assert is_up_to_date(models, project)
    (project / "domain.yml").write_text("version: '3.1'\nintents: [greet]\n")
    assert not is_up_to_date(models, project)
