"""The ledger API (API.md, "Ledger"): public checkpoints, keys and proofs; entries
by subject for those who may see it; verification for admins."""

from __future__ import annotations

import base64

import pytest

from mindlinks.ledger import repository, verifier
from mindlinks.ledger.access import SUBJECT_READERS
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
from tests.factories import auth_headers, make_user, problem
from tests.ledger.db_helpers import append_n


@pytest.fixture
def checkpointed(session, app_context):
    entries = append_n(session, 7, subject="contract:API-TEST")
    checkpoint = issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    return entries, checkpoint


@pytest.fixture
def owned_subjects(session, monkeypatch):
    """A subject type whose reader is one test user (stands in for contracts; the
    contracts module's own reader is put back afterwards)."""
    owner = make_user(session, role="client")
    monkeypatch.setitem(
        SUBJECT_READERS, "contract", lambda s, actor, object_id: actor.id == owner.id
    )
    return owner


def test_the_latest_checkpoint_is_public(client, checkpointed):
    _, checkpoint = checkpointed
    body = client.get("/api/ledger/checkpoint").json()
    assert body["tree_size"] == checkpoint.tree_size
    assert body["root_hash"] == checkpoint.root_hash.hex()
    assert body["key_id"] == checkpoint.key_id
    assert body["note"] == checkpoint.note
    same = client.get(f"/api/ledger/checkpoints/{checkpoint.tree_size}").json()
    assert same == body


def test_a_size_without_a_checkpoint_is_404(client, checkpointed):
    _, checkpoint = checkpointed
    problem(client.get(f"/api/ledger/checkpoints/{checkpoint.tree_size + 1000}"), 404)
    problem(client.get("/api/ledger/checkpoints/0"), 422)
    problem(client.get("/api/ledger/checkpoints/abc"), 422)


def test_the_public_key_has_the_api_shape_and_matches_the_note(client, app_context, checkpointed):
    _, checkpoint = checkpointed
    key = client.get("/api/ledger/public-key").json()
    assert set(key) >= {"key_id", "algorithm", "key_name", "public_key", "vkey"}
    assert key["algorithm"] == "Ed25519"
    assert len(base64.b64decode(key["public_key"])) == 32
    assert key["key_id"] == checkpoint.key_id
    verifier.verify_checkpoint(checkpoint.note, [key["vkey"]])
    listed = client.get("/api/ledger/public-keys").json()
    assert listed["items"][0]["vkey"] == key["vkey"]


def test_an_inclusion_proof_verifies_against_the_signed_checkpoint(client, checkpointed):
    entries, checkpoint = checkpointed
    seq = entries[3].seq
    proof = client.get(f"/api/ledger/entries/{seq}/proof").json()
    assert proof["tree_size"] == checkpoint.tree_size
    assert proof["leaf_hash"] == entries[3].leaf_hash.hex()
    vkey = client.get("/api/ledger/public-key").json()["vkey"]
    bundle = {
        "format": verifier.FORMAT,
        "entry": {
            "seq": seq,
            "entry": base64.b64encode(entries[3].entry_bytes).decode(),
            "leaf_hash": proof["leaf_hash"],
        },
        "proof": {"tree_size": proof["tree_size"], "audit_path": proof["audit_path"]},
        "checkpoint": client.get("/api/ledger/checkpoint").json()["note"],
        "timestamp_token": None,
    }
    assert verifier.verify_proof_bundle(bundle, [vkey]).seq == seq


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/ledger/entries/{beyond}/proof", 404),
        ("/api/ledger/entries/-1/proof", 422),
        ("/api/ledger/entries/x/proof", 422),
        ("/api/ledger/entries/0/proof?tree_size=0", 422),
        ("/api/ledger/entries/0/proof?tree_size={beyond}", 422),
        ("/api/ledger/consistency?first=2&second=1", 422),
        ("/api/ledger/consistency?first=0&second=1", 422),
        ("/api/ledger/consistency?first=1&second={beyond}", 422),
        ("/api/ledger/consistency?first=a&second=1", 422),
    ],
)
def test_bad_proof_requests_are_4xx_with_a_reason(client, session, checkpointed, path, status):
    beyond = repository.head_size(session) + 5
    body = problem(client.get(path.format(beyond=beyond)), status)
    assert body["detail"]


def test_a_consistency_proof_links_two_checkpoints(client, session, app_context, checkpointed):
    _, first = checkpointed
    append_n(session, 4, subject="contract:API-TEST")
    second = issue_checkpoint(session, app_context.settings, keyring_for(app_context))
    body = client.get(
        f"/api/ledger/consistency?first={first.tree_size}&second={second.tree_size}"
    ).json()
    vkey = client.get("/api/ledger/public-key").json()["vkey"]
    verifier.verify_checkpoint_consistency(first.note, second.note, body["proof"], [vkey])


class TestEntriesBySubject:
    def test_anonymous_is_401(self, client, checkpointed):
        problem(client.get("/api/ledger/entries?subject=contract:API-TEST"), 401)

    def test_a_reader_of_the_subject_lists_its_entries(self, client, checkpointed, owned_subjects):
        entries, _ = checkpointed
        headers = auth_headers(client, owned_subjects)
        body = client.get(
            "/api/ledger/entries?subject=contract:API-TEST&limit=5", headers=headers
        ).json()
        assert [i["seq"] for i in body["items"]] == [e.seq for e in entries[:5]]
        assert base64.b64decode(body["items"][0]["entry"]) == entries[0].entry_bytes
        rest = client.get(
            f"/api/ledger/entries?subject=contract:API-TEST&cursor={body['next_cursor']}",
            headers=headers,
        ).json()
        assert [i["seq"] for i in rest["items"]] == [e.seq for e in entries[5:]]
        assert rest["next_cursor"] is None

    def test_another_tenant_gets_404(self, client, session, checkpointed, owned_subjects):
        intruder = make_user(session, role="client")
        response = client.get(
            "/api/ledger/entries?subject=contract:API-TEST", headers=auth_headers(client, intruder)
        )
        problem(response, 404)

    def test_an_unknown_subject_type_is_404_and_listing_all_is_for_admins(
        self, client, session, checkpointed
    ):
        user = make_user(session, role="contractor")
        headers = auth_headers(client, user)
        problem(client.get("/api/ledger/entries?subject=nothing:1", headers=headers), 404)
        problem(client.get("/api/ledger/entries", headers=headers), 422)

    def test_an_admin_lists_everything_and_filters_by_kind(self, client, session, checkpointed):
        admin = make_user(session, role="admin")
        headers = auth_headers(client, admin)
        body = client.get(
            "/api/ledger/entries?kind=test.appended&limit=100", headers=headers
        ).json()
        assert body["items"]
        assert {i["kind"] for i in body["items"]} == {"test.appended"}
        problem(client.get("/api/ledger/entries?cursor=%%%", headers=headers), 422)


class TestAdminVerify:
    def test_checkpoint_signatures_are_checked_against_the_published_keys(
        self, client, session, app_context, monkeypatch
    ):
        from mindlinks.ledger import api as ledger_api
        from mindlinks.ledger.checkpoints import keyring_for

        seen: list[object] = []
        real = ledger_api.verify_ledger

        def recording(snapshot, **kwargs):
            seen.append(kwargs.get("trusted_keys"))
            return real(snapshot, **kwargs)

        monkeypatch.setattr(ledger_api, "verify_ledger", recording)
        admin = make_user(session, role="admin")
        assert client.get("/api/admin/ledger/verify", headers=auth_headers(client, admin)).json()[
            "ok"
        ]
        assert seen == [keyring_for(app_context).vkeys]

    def test_anonymous_is_401_and_non_admins_403(self, client, session):
        problem(client.get("/api/admin/ledger/verify"), 401)
        user = make_user(session, role="client")
        problem(client.get("/api/admin/ledger/verify", headers=auth_headers(client, user)), 403)

    def test_an_admin_verifies_the_whole_ledger(self, client, session, app_context):
        admin = make_user(session, role="admin")
        body = client.get("/api/admin/ledger/verify", headers=auth_headers(client, admin)).json()
        # The check reads its own committed snapshot (not this test's open transaction).
        with app_context.session_factory() as fresh:
            fresh.connection(execution_options={"sqlite_begin": "DEFERRED"})
            committed = repository.head_size(fresh)
        assert body == {
            "ok": True,
            "entries_checked": committed,
            "first_bad_seq": None,
            "reason": None,
        }
