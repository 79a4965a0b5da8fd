"""`grade serve` as a web app: TAs log in, read the class's pages from the gradebook and
grade the written answers by hand (rubric items, comments, conflicts, regrades, history).

The pages are the static report's (grader/reports: the same typed contexts, the same
templates, served at the same relative paths so every link works), rendered per request
from the gradebook, behind a login: accounts and server-side sessions live in the store
(grader/store/accounts.py), the app only ever holds a session's random id in a cookie.

    app.py      create_app: routes, middleware, the state every handler shares
    auth.py     who is asking (session cookie, or a trusted proxy's user header); the login gate
    login.py    GET/POST /login, POST /logout
    csrf.py     per-session tokens, the login form's signed token, bounded form parsing
    limiter.py  failed logins per user name and per client
    pages.py    the report's pages from the gradebook, cached per gradebook revision
    headers.py  security headers and the access log
    server.py   uvicorn on a socket we bound ourselves
    queue.py    GET /grading (what awaits manual grading, who is grading what), a part's list
    queue_cache.py  the queue, read once per gradebook revision
    grading.py  GET/POST /grading/<assignment>/<part>/<student>: an answer beside the rubric
    markdown.py a student's answer as inert HTML (markdown-it-py, raw HTML off, links checked)
    history.py  GET /history: every change, who, when, before, after, why
    overrides.py POST /overrides from the student's page
    static/     grading.js (the keyboard shortcuts: a file, as the policy runs no inline script), app.css
"""
