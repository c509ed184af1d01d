from services.payment_confirmation.app import SPEC
from shared.infra.service import main

main(SPEC)
