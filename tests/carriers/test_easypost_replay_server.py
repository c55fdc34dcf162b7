"""The replay server itself: matching rules that the carrier tests rely on."""

from __future__ import annotations

import json

import httpx

from tests.support.easypost_replay import CASSETTES_DIR, ReplayServer, load_cassette


def test_every_cassette_loads(easypost_fixtures):
    for path in sorted(CASSETTES_DIR.glob("*.yaml")):
        interactions = load_cassette(path)
        assert interactions, path.name
        assert all(i.path.startswith("/v2/") for i in interactions)


def test_ambiguous_requests_match_by_body_then_order(easypost_fixtures):
    with ReplayServer(["test_shipment_create", "test_shipment_refund"]) as server:
        refund_create = load_cassette("test_shipment_refund")[0]
        # Same method and path as the other cassette's creation, but this body is recorded.
        answer = httpx.post(f"{server.api_base}/shipments", json=refund_create.body)
        assert answer.json()["id"] == "shp_700d2963c43b4847883c955eeb846b13"
        # Unknown body: the earliest unused recording answers.
        answer = httpx.post(f"{server.api_base}/shipments", json={"shipment": {}})
        assert answer.json()["id"] == "shp_4f5381cd729d48c2adc4d2d801d655e2"
        # Both used: a POST is not replayed twice.
        answer = httpx.post(f"{server.api_base}/shipments", json={"shipment": {}})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "REPLAY.NO_MATCH"
        assert len(server.unmatched) == 1


def test_gets_replay_again_and_queries_must_match(easypost_fixtures):
    with ReplayServer(["test_event_all"]) as server:
        for _ in range(2):
            answer = httpx.get(f"{server.api_base}/events", params={"page_size": 5})
            assert answer.status_code == 200
            assert "events" in answer.json()
        assert httpx.get(f"{server.api_base}/events", params={"page_size": 6}).status_code == 404


def test_injections_take_precedence_once(easypost_fixtures):
    with ReplayServer(["test_tracker_create"]) as server:
        server.inject("POST", "/v2/trackers", status=503, body={"error": {"message": "down"}})
        assert httpx.post(f"{server.api_base}/trackers", json={}).status_code == 503
        recorded = httpx.post(f"{server.api_base}/trackers", json={})
        assert recorded.status_code == 200
        assert json.loads(recorded.text)["tracking_code"] == "EZ1000000001"
