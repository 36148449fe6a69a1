from tests.factories import PASSWORD, login, make_user


def test_register_login_me(client, session):
    r = client.post("/api/auth/register", json={"email": "Ann@Example.com", "password": PASSWORD, "full_name": "Ann", "role": "client"})
    assert r.status_code == 201, r.text
    headers = login(client, "ann@example.com")
    me = client.get("/api/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["email_verified"] is False
