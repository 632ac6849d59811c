"""What only Kaggle needs: the package dataset the notebook imports, and the notebook's time budget.
"""
