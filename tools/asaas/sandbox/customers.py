"""Customers in the sandbox: validation as Asaas does it, and the Asaas JSON shape.

Asaas allows duplicate customers (reference §5); so does this sandbox.
"""

from __future__ import annotations

from typing import Any

from .store import ApiError, CustomerRec, Store, not_found

_OPTIONAL = (
    "address",
    "addressNumber",
    "complement",
    "province",
    "postalCode",
    "additionalEmails",
    "municipalInscription",
    "stateInscription",
    "observations",
    "groupName",
    "company",
    "foreignCustomer",
)


def _check_digits(numbers: str, weights: list[int]) -> int:
    total = sum(int(d) * w for d, w in zip(numbers, weights, strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def valid_cpf_cnpj(value: str) -> bool:
    """CPF (11 digits) or CNPJ (14 digits) with correct check digits."""
    if not value.isdigit() or len(set(value)) == 1:
        return False
    if len(value) == 11:
        d1 = _check_digits(value[:9], list(range(10, 1, -1)))
        d2 = _check_digits(value[:10], list(range(11, 1, -1)))
        return value[9:] == f"{d1}{d2}"
    if len(value) == 14:
        w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        d1 = _check_digits(value[:12], w1)
        d2 = _check_digits(value[:13], [6, *w1])
        return value[12:] == f"{d1}{d2}"
    return False


def create(store: Store, body: dict[str, Any]) -> CustomerRec:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "invalid_name", "O nome do cliente deve ser informado.")
    cpf = "".join(ch for ch in str(body.get("cpfCnpj") or "") if ch.isdigit())
    if not valid_cpf_cnpj(cpf):
        raise ApiError(400, "invalid_object", "O CPF/CNPJ informado é inválido.")
    mobile = body.get("mobilePhone")
    if mobile and len(set(str(mobile))) == 1:
        raise ApiError(400, "invalid_mobilePhone", "O celular informado é inválido.")
    now = store.now()
    rec = CustomerRec(
        id=store.new_id("cus_"),
        date_created=now.date(),
        created_at=now,
        name=name.strip(),
        cpf_cnpj=cpf,
        external_reference=body.get("externalReference"),
        email=body.get("email"),
        phone=body.get("phone"),
        mobile_phone=mobile,
        notification_disabled=bool(body.get("notificationDisabled", False)),
        other={k: body[k] for k in _OPTIONAL if body.get(k) is not None},
    )
    store.state.customers[rec.id] = rec
    store.touch()
    return rec


def get(store: Store, customer_id: str) -> CustomerRec:
    rec = store.state.customers.get(customer_id)
    if rec is None:
        raise not_found()
    return rec


def delete(store: Store, customer_id: str) -> dict[str, Any]:
    rec = get(store, customer_id)
    if rec.deleted:
        raise not_found()
    rec.deleted = True
    store.touch()
    return {"deleted": True, "id": rec.id}


def search(store: Store, query: dict[str, str]) -> list[CustomerRec]:
    """Filters of ``GET /v3/customers``; newest first; deleted ones are left out."""
    found = [c for c in store.state.customers.values() if not c.deleted]
    if cpf := query.get("cpfCnpj"):
        found = [c for c in found if c.cpf_cnpj == "".join(ch for ch in cpf if ch.isdigit())]
    if ref := query.get("externalReference"):
        found = [c for c in found if c.external_reference == ref]
    if email := query.get("email"):
        found = [c for c in found if c.email == email]
    if name := query.get("name"):
        found = [c for c in found if name.lower() in c.name.lower()]
    return sorted(found, key=lambda c: c.created_at, reverse=True)


def render(rec: CustomerRec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": "customer",
        "id": rec.id,
        "dateCreated": rec.date_created.isoformat(),
        "name": rec.name,
        "email": rec.email,
        "phone": rec.phone,
        "mobilePhone": rec.mobile_phone,
        "cpfCnpj": rec.cpf_cnpj,
        "personType": "FISICA" if len(rec.cpf_cnpj) == 11 else "JURIDICA",
        "deleted": rec.deleted,
        "externalReference": rec.external_reference,
        "notificationDisabled": rec.notification_disabled,
        "foreignCustomer": False,
    }
    out.update(rec.other)
    return out


__all__ = ["create", "delete", "get", "render", "search", "valid_cpf_cnpj"]
