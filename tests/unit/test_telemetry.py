"""Prometheus metrics of the HTTP API: counted by route template, never by raw path.

Each test builds a small FastAPI app with its own `Telemetry`, drives it with the
test client, and reads `/metrics` back through prometheus_client's own parser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from uuid import uuid4

import pytest
from fastapi import APIRouter, FastAPI, HTTPException, WebSocket
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from services.http.telemetry import (
    DURATION_BUCKETS,
    UNKNOWN,
    UNMATCHED,
    Gauges,
    Telemetry,
    install,
    route_template,
)

THING = "/v1/things/{thing_id}"


def make_app(telemetry: Telemetry) -> FastAPI:
    api = FastAPI()

    @api.get(THING)
    def get_thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, detail="no such thing")
        return {"id": thing_id}

    @api.post("/v1/things", status_code=201)
    def add_thing() -> dict[str, str]:
        return {"id": "new"}

    @api.get("/v1/counted/{n}")
    def counted(n: int) -> int:
        return n

    @api.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("handler bug")

    @api.websocket("/v1/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    people = APIRouter(prefix="/people")

    @people.get("/{person_id}")
    def person(site_id: str, person_id: str) -> str:
        return person_id

    sites = APIRouter(prefix="/v1/sites/{site_id}")
    sites.include_router(people)
    api.include_router(sites)

    async def raw(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["raw_id"])

    api.add_route("/v1/raw/{raw_id}", raw)

    sub = FastAPI()

    @sub.get("/items/{item_id}")
    def item(item_id: str) -> str:
        return item_id

    api.mount("/sub", sub)

    region = FastAPI()

    @region.get("/people/{person_id}")
    def regional_person(person_id: str) -> str:
        return person_id

    api.mount("/v1/regions/{region_id}", region)

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    api.mount("/static", plain)
    sub.mount("/deep", plain)

    install(api, telemetry)
    return api


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def client(telemetry: Telemetry) -> Iterator[TestClient]:
    with TestClient(make_app(telemetry), raise_server_exceptions=False) as test_client:
        yield test_client


def scrape_text(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text: str = response.text
    return text


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(client: TestClient) -> list[Sample]:
    return samples(scrape_text(client))


def value(found: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample called `name` with exactly these labels, or None."""
    matches = [s.value for s in found if s.name == name and s.labels == labels]
    assert len(matches) <= 1, (name, labels, matches)
    return matches[0] if matches else None


def requests(found: list[Sample], method: str, route: str, status: int) -> float | None:
    return value(found, "lead_http_requests_total", method=method, route=route, status=str(status))


def routes(found: list[Sample]) -> set[str]:
    return {s.labels["route"] for s in found if s.name == "lead_http_requests_total"}


def label_values(found: list[Sample]) -> set[str]:
    return {v for s in found for v in s.labels.values()}


# -- requests --------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_never_by_raw_path(client: TestClient) -> None:
    client.get("/v1/things/123")
    client.get("/v1/things/123")
    client.get("/v1/things/456")

    found = scrape(client)

    assert requests(found, "GET", THING, 200) == 3
    assert not any("123" in v or "456" in v for v in label_values(found))
    assert "/v1/things/123" not in scrape_text(client)


def test_a_person_id_in_the_path_appears_nowhere_in_the_output(client: TestClient) -> None:
    person_id = str(uuid4())
    site_id = str(uuid4())
    assert client.get(f"/v1/sites/{site_id}/people/{person_id}").status_code == 200

    text = scrape_text(client)

    assert person_id not in text
    assert site_id not in text
    # The full template, including the prefixes of the routers it was included through.
    assert requests(samples(text), "GET", "/v1/sites/{site_id}/people/{person_id}", 200) == 1


def test_status_codes_are_labelled(client: TestClient) -> None:
    client.get("/v1/things/1")
    client.get("/v1/things/missing")
    client.post("/v1/things")
    client.get("/v1/counted/not-a-number")
    client.delete("/v1/things/1")

    found = scrape(client)

    assert requests(found, "GET", THING, 200) == 1
    assert requests(found, "GET", THING, 404) == 1
    assert requests(found, "POST", "/v1/things", 201) == 1
    assert requests(found, "GET", "/v1/counted/{n}", 422) == 1
    # A path that matched a route, with a method it lacks: still that route.
    assert requests(found, "DELETE", THING, 405) == 1


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    client.get("/nowhere/123")
    client.get("/v1/else/456")

    found = scrape(client)

    assert requests(found, "GET", UNMATCHED, 404) == 2
    assert routes(found) == {UNMATCHED}


def test_an_unhandled_exception_is_counted_as_a_500(client: TestClient) -> None:
    assert client.get("/v1/boom").status_code == 500

    assert requests(scrape(client), "GET", "/v1/boom", 500) == 1


def test_unusual_methods_are_lumped_together(client: TestClient) -> None:
    client.request("BREW", "/v1/things/1")

    found = scrape(client)

    assert requests(found, "other", THING, 405) == 1
    assert "BREW" not in label_values(found)


def test_mounted_apps_are_labelled_by_template(client: TestClient) -> None:
    client.get("/sub/items/789")
    client.get("/sub/nothing/789")
    client.get("/static/css/site-789.css")

    found = scrape(client)

    assert requests(found, "GET", "/sub/items/{item_id}", 200) == 1
    assert requests(found, "GET", "/sub/{path}", 404) == 1
    assert requests(found, "GET", "/static/{path}", 200) == 1
    assert not any("789" in v for v in label_values(found))


def test_a_mount_path_with_parameters_is_labelled_by_its_template(client: TestClient) -> None:
    region_id, person_id = str(uuid4()), str(uuid4())
    assert client.get(f"/v1/regions/{region_id}/people/{person_id}").status_code == 200

    text = scrape_text(client)

    assert region_id not in text
    assert person_id not in text
    assert requests(samples(text), "GET", "/v1/regions/{region_id}/people/{person_id}", 200) == 1


def test_a_mount_in_a_mount_is_unknown_rather_than_spelled_out(client: TestClient) -> None:
    assert client.get("/sub/deep/789").status_code == 200

    assert requests(scrape(client), "GET", UNKNOWN, 200) == 1


def test_plain_starlette_routes_of_a_fastapi_app_are_labelled(client: TestClient) -> None:
    """FastAPI's router leaves `scope["route"]` unset for routes that are not its own."""
    client.get("/openapi.json")
    client.get("/v1/raw/789")

    found = scrape(client)

    assert requests(found, "GET", "/openapi.json", 200) == 1
    assert requests(found, "GET", "/v1/raw/{raw_id}", 200) == 1
    assert not any("789" in v for v in label_values(found))


def test_websockets_pass_through_uncounted(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws") as websocket:
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"

    assert "/v1/ws" not in routes(scrape(client))


def test_the_scrape_itself_is_counted(client: TestClient) -> None:
    scrape(client)

    assert requests(scrape(client), "GET", "/metrics", 200) == 1


def test_latency_is_observed_in_the_histogram(client: TestClient) -> None:
    for _ in range(3):
        client.get("/v1/things/1")

    found = scrape(client)
    name = "lead_http_request_duration_seconds"
    labels = {"method": "GET", "route": THING}

    assert value(found, f"{name}_count", **labels) == 3
    total = value(found, f"{name}_sum", **labels)
    assert total is not None
    assert total > 0
    buckets = {
        s.labels["le"]: s.value
        for s in found
        if s.name == f"{name}_bucket" and s.labels["route"] == THING
    }
    assert [float(le) for le in buckets if le != "+Inf"] == list(DURATION_BUCKETS)
    assert buckets["+Inf"] == 3
    assert DURATION_BUCKETS[0] == 0.005
    assert DURATION_BUCKETS[-1] == 10.0


# -- scrape-time gauges ----------------------------------------------------------------


def gauges(
    appended: Callable[[], int] = lambda: 120,
    relayed: Callable[[], int] = lambda: 100,
    lag: Callable[[], Mapping[str, int]] = lambda: {"queue": 3, "audit": 0},
) -> Gauges:
    return Gauges(events_appended=appended, relay_position=relayed, projection_lag=lag)


def test_gauges_report_what_the_callables_return() -> None:
    telemetry = Telemetry(gauges())

    found = samples(telemetry.render()[0].decode())

    assert value(found, "lead_events_appended") == 120
    assert value(found, "lead_relay_position") == 100
    assert value(found, "lead_relay_lag") == 20
    assert value(found, "lead_projection_lag", projection="queue") == 3
    assert value(found, "lead_projection_lag", projection="audit") == 0
    for source in ("events_appended", "relay_position", "projection_lag"):
        assert value(found, "lead_scrape_errors_total", source=source) == 0


def test_gauges_are_read_afresh_on_every_scrape() -> None:
    position = iter(range(10, 100, 10))
    telemetry = Telemetry(gauges(appended=lambda: next(position), relayed=lambda: 5))

    first = samples(telemetry.render()[0].decode())
    second = samples(telemetry.render()[0].decode())

    assert value(first, "lead_events_appended") == 10
    assert value(second, "lead_events_appended") == 20
    assert value(second, "lead_relay_lag") == 15


def test_relay_lag_is_never_negative() -> None:
    # The relay's position can be read after further appends were: never report < 0.
    telemetry = Telemetry(gauges(appended=lambda: 7, relayed=lambda: 9))

    assert value(samples(telemetry.render()[0].decode()), "lead_relay_lag") == 0


def test_the_content_type_is_prometheus_text() -> None:
    body, content_type = Telemetry(gauges()).render()

    assert content_type.startswith("text/plain")
    assert b"# TYPE lead_events_appended gauge" in body


def fail() -> int:
    raise ConnectionError("database down")


def test_a_raising_callable_skips_its_metrics_and_counts_an_error() -> None:
    telemetry = Telemetry(gauges(appended=fail))
    with TestClient(make_app(telemetry)) as client:
        first = scrape(client)
        second = scrape(client)

    assert value(first, "lead_events_appended") is None
    assert value(first, "lead_relay_lag") is None  # needs both positions
    assert value(first, "lead_relay_position") == 100
    assert value(first, "lead_projection_lag", projection="queue") == 3
    assert value(first, "lead_scrape_errors_total", source="events_appended") == 1
    assert value(second, "lead_scrape_errors_total", source="events_appended") == 2
    assert value(second, "lead_scrape_errors_total", source="relay_position") == 0


def test_every_source_can_fail_independently() -> None:
    def no_lag() -> Mapping[str, int]:
        raise TimeoutError("kafka unreachable")

    def bad_lag() -> Mapping[str, int]:
        return {"queue": "three"}  # type: ignore[dict-item]

    telemetry = Telemetry(gauges(relayed=fail, lag=no_lag))
    found = samples(telemetry.render()[0].decode())

    assert value(found, "lead_events_appended") == 120
    assert value(found, "lead_relay_position") is None
    assert value(found, "lead_relay_lag") is None
    assert not [s for s in found if s.name == "lead_projection_lag"]
    assert value(found, "lead_scrape_errors_total", source="relay_position") == 1
    assert value(found, "lead_scrape_errors_total", source="projection_lag") == 1

    # A value that is not a number counts as a failure too, not a broken scrape.
    garbled = Telemetry(gauges(lag=bad_lag)).render()[0].decode()
    assert value(samples(garbled), "lead_scrape_errors_total", source="projection_lag") == 1


def test_callables_are_not_read_at_registration() -> None:
    calls: list[str] = []

    def appended() -> int:
        calls.append("appended")
        return 1

    Telemetry(gauges(appended=appended))

    assert calls == []


def test_without_gauges_only_the_http_metrics_are_exported() -> None:
    found = samples(Telemetry().render()[0].decode())

    assert not [s for s in found if s.name.startswith(("lead_events", "lead_relay"))]
    assert not [s for s in found if s.name.startswith("lead_scrape_errors")]


# -- isolation and wiring ----------------------------------------------------------------


def test_two_telemetries_do_not_share_counts() -> None:
    first, second = Telemetry(gauges()), Telemetry(gauges(appended=lambda: 500))
    with (
        TestClient(make_app(first)) as first_client,
        TestClient(make_app(second)) as second_client,
    ):
        first_client.get("/v1/things/1")
        first_client.get("/v1/things/2")
        second_client.post("/v1/things")

        in_first = scrape(first_client)
        in_second = scrape(second_client)

    assert requests(in_first, "GET", THING, 200) == 2
    assert requests(in_first, "POST", "/v1/things", 201) is None
    assert requests(in_second, "GET", THING, 200) is None
    assert requests(in_second, "POST", "/v1/things", 201) == 1
    assert value(in_first, "lead_events_appended") == 120
    assert value(in_second, "lead_events_appended") == 500


def test_nothing_is_registered_globally() -> None:
    Telemetry(gauges()).observe("GET", THING, 200, 0.01)

    global_names = {m.name for m in REGISTRY.collect()}
    assert not [name for name in global_names if name.startswith("lead_")]


def test_the_metrics_route_is_in_the_openapi_schema(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]

    assert operation["summary"] == "Prometheus metrics"
    assert "text/plain" in operation["responses"]["200"]["content"]


def test_install_takes_another_path(telemetry: Telemetry) -> None:
    api = FastAPI()
    install(api, telemetry, path="/internal/metrics")
    with TestClient(api) as client:
        assert client.get("/internal/metrics").status_code == 200
        assert client.get("/metrics").status_code == 404
        found = samples(client.get("/internal/metrics").text)

    assert requests(found, "GET", UNMATCHED, 404) == 1
    assert requests(found, "GET", "/internal/metrics", 200) == 1


# -- route_template on its own ------------------------------------------------------------


def test_a_scope_without_a_route_is_unmatched() -> None:
    assert route_template({"type": "http", "path": "/v1/things/1"}) == UNMATCHED


def test_a_template_that_does_not_fit_the_path_is_not_trusted() -> None:
    """Rather than fall back to the raw path, an unexplained match is `unknown`."""
    api = FastAPI()

    @api.get("/things/{thing_id}")
    def thing(thing_id: str) -> str:
        return thing_id

    declared = api.routes[-1]
    scope = {"type": "http", "path": "/v1/prefix/things/1", "root_path": "", "route": declared}

    assert route_template(scope) == UNKNOWN
    assert route_template({**scope, "path": "/things/1"}) == "/things/{thing_id}"


def test_the_middleware_alone_works_on_a_plain_starlette_app(telemetry: Telemetry) -> None:
    """Starlette's own router records mounts as the route; FastAPI's does not."""

    async def hello(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("hello")(scope, receive, send)

    async def greet(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/greet/{name}", greet), Mount("/files", app=hello)])
    app.add_middleware(telemetry.middleware())
    with TestClient(app) as client:
        client.get("/greet/ada")
        client.get("/files/ada.txt")
        client.get("/ada")

    found = samples(telemetry.render()[0].decode())
    assert requests(found, "GET", "/greet/{name}", 200) == 1
    assert requests(found, "GET", "/files/{path}", 200) == 1
    assert requests(found, "GET", UNMATCHED, 404) == 1
    assert "ada" not in telemetry.render()[0].decode()
