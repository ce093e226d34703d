"""path_for builds exactly the paths url_for builds, whatever the values."""

from flask import url_for

from core.urls import path_for

AWKWARD = ["ada", "ÅSA_ö", "李娜", "c#", "a b", "100%", "x/y", "q?x=1", "semi;colon", "dot.name", "-", "0"]


def test_path_for_matches_url_for_for_every_kind_of_value(make_app):
    app = make_app("sqlite")
    cases = [("forum.view_thread", {"thread_id": n}) for n in (1, 42, 10**9)]
    cases += [("forum.view_tag", {"name": name}) for name in AWKWARD]
    cases += [("forum.view_category", {"slug": name}) for name in AWKWARD]
    cases += [("accounts.view_profile", {"username": name}) for name in AWKWARD]
    cases += [("static", {"filename": "css/peerline.css"}), ("forum.list_threads", {"which": "solved"}),
              ("forum.vote", {"post_id": 7}), ("search.search_page", {}),
              ("forum.view_thread", {"thread_id": 3, "page": 2}),  # page goes to the query string
              ("forum.view_thread", {"thread_id": 3, "_anchor": "answers"}),
              ("forum.view_thread", {"thread_id": "07"}),  # a string for a number part is converted
              ("forum.view_thread", {"thread_id": 7, "slug": "a b/c"}),
              ("forum.ask", {"category": None}), ("forum.ask", {"category": 3}),  # None: left out
              ("accounts.sign_in", {"next": None}), ("forum.view_thread", {"thread_id": 5, "slug": None})]
    for script_root in ("", "/community"):
        with app.test_request_context("/", environ_base={"SCRIPT_NAME": script_root}):
            for endpoint, values in cases:
                expected = url_for(endpoint, **values)
                assert path_for(endpoint, **values) == expected, (script_root, endpoint, values)
                assert path_for(endpoint, **values) == url_for(endpoint, **values)  # cached template too
