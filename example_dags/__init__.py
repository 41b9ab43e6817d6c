"""The example DAGs. Each file stands alone: copy any one of them into a DAGs folder; tests and the demo
import the sample warehouse module from here."""
