"""The managers' report: read the published KPIs, draw charts, render one HTML file."""
