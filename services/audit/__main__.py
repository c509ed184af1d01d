from services.audit.cli import main
from shared.access import AUDITOR
from shared.infra.kafka_auth import adopt_principal

adopt_principal(AUDITOR)  # the audit only reads: the broker refuses it anything else
main()
