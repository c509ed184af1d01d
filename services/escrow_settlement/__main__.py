from services.escrow_settlement.app import SPEC
from shared.infra.service import main

main(SPEC)
