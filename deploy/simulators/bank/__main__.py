from deploy.simulators.bank.app import SPEC
from shared.infra.service import main

main(SPEC)
