"""A running hub with a sender, a REST partner (the sandbox sink), one delivered message and
one dead letter, and a console logged in as the hub's admin."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import requests

from tests.admin.console import Console
from tests.support.partners import dossier, standard
from tests.support.running import RunningHub, wait_until

CCCD = "001090000001"


@dataclass
class World:
    running: RunningHub
    sender_key: str
    delivered: str  # a message id
    dead: str  # a message id whose delivery is dead
    dead_delivery: str


def send(running: RunningHub, key: str, n: int, **extra) -> str:
    answer = requests.post(
        running.url + "/v1/messages",
        params={"service": "dossier.status"},
        data=json.dumps({**dossier(n), **extra}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def status_of(running: RunningHub, message_id: str) -> str:
    return running.admin().json("GET", f"/v1/messages/{message_id}")["status"]


@pytest.fixture
def world(running, sink) -> World:
    client = standard(running.admin(), sink.url)
    key = client.session.headers["Authorization"][7:]
    delivered = send(running, key, 1, NoiDungXuLy=f"Công dân CCCD {CCCD}")
    wait_until(
        lambda: status_of(running, delivered) == "delivered", timeout=60, what="the first delivery"
    )
    sink.set_faults(fail_next=1, fail_status=400)  # refused for good: dead at once
    dead = send(running, key, 2)
    wait_until(lambda: status_of(running, dead) == "dead", timeout=60, what="a dead letter")
    delivery = running.admin().json("GET", f"/v1/messages/{dead}")["deliveries"][0]["id"]
    return World(running, key, delivered, dead, delivery)


@pytest.fixture
def console(running) -> Console:
    console = Console(running.url)
    answer = console.login(running.admin_key)
    assert answer.status_code == 200 and console.csrf, answer.text[:500]
    return console
