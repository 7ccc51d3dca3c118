"""Fixtures des bases réelles : SQLite (fichier temporaire) et PostgreSQL (``TEST_DATABASE_URL``).

Chaque test PostgreSQL a son propre schéma, créé puis supprimé : la base de test reste propre
et les tests ne se voient pas. Sans ``TEST_DATABASE_URL``, ils sont sautés localement (raison
affichée) mais échouent en CI (``CI=true``), où ``.ci/run`` démarre PostgreSQL.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from test.conftest import EN_CI

VARIABLE = "TEST_DATABASE_URL"


@pytest.fixture()
def base_postgresql() -> str:
    """Une URL ``postgresql+psycopg://…`` dont le ``search_path`` est un schéma neuf, propre à ce test."""
    url = os.environ.get(VARIABLE, "").strip()
    if not url:
        if EN_CI:
            pytest.fail(f"{VARIABLE} absent en CI : .ci/run doit installer et démarrer PostgreSQL")
        pytest.skip(f"PostgreSQL non configuré : exportez {VARIABLE}=postgresql+psycopg://… (README, "
                    "section « Magasin de résultats et droit à l'effacement »)")
    schema = f"essai_{uuid.uuid4().hex[:16]}"
    moteur = create_engine(url)
    with moteur.begin() as connexion:
        connexion.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with moteur.begin() as connexion:
            connexion.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        moteur.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url_base(request, tmp_path) -> str:
    """La même épreuve contre SQLite et contre PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'resultats.sqlite3'}"
    return request.getfixturevalue("base_postgresql")
