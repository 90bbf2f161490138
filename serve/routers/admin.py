"""Admin routes (admin/owner role only)."""

from __future__ import annotations

from fastapi import APIRouter

from db.rls_smoke import run_rls_smoke

from ..deps import AdminTenant, State
from ..schemas import RlsCheck, RlsReport

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/rls/test", response_model=RlsReport)
async def rls_test(state: State, _: AdminTenant) -> RlsReport:
    """Live isolation smoke test with two throwaway tenants, cleaned up afterwards."""
    checks = await run_rls_smoke(state.pool)
    return RlsReport(
        passed=all(c.passed for c in checks),
        checks=[RlsCheck(name=c.name, passed=c.passed, detail=c.detail) for c in checks],
    )
