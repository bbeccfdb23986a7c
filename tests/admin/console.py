"""Driving the console as a browser does, with requests: the login form (its own CSRF token),
the session cookie, and the CSRF token each logged-in page carries for its forms."""

from __future__ import annotations

import re

import requests

CSRF = re.compile(r'data-csrf="([^"]+)"')
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')
HTML = {"Accept": "text/html"}


class Console:
    def __init__(self, hub_url: str) -> None:
        self.url = hub_url + "/admin"
        self.http = requests.Session()
        self.http.headers.update(HTML)
        self.csrf = ""

    def login(self, key: str, next_page: str = "/admin/") -> requests.Response:
        form = self.http.get(self.url + "/login", timeout=30)
        token = LOGIN_CSRF.search(form.text).group(1)
        answer = self.http.post(
            self.url + "/login",
            data={"api_key": key, "login_csrf": token, "next": next_page},
            timeout=30,
        )
        found = CSRF.search(answer.text)
        self.csrf = found.group(1) if found else ""
        return answer

    def get(self, path: str, *, allow_redirects: bool = True, **params) -> requests.Response:
        return self.http.get(
            self.url + path, params=params, timeout=30, allow_redirects=allow_redirects
        )

    def page(self, path: str, **params) -> str:
        answer = self.get(path, **params)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return answer.text

    def post(self, path: str, data=None, *, csrf: bool = True, **kwargs) -> requests.Response:
        fields = list(data.items() if isinstance(data, dict) else data or [])
        if csrf:
            fields.append(("csrf", self.csrf))
        kwargs.setdefault("allow_redirects", False)
        return self.http.post(self.url + path, data=fields, timeout=60, **kwargs)
