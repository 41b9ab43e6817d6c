"""Links from Airflow's task view to Kizen's web app."""
